// Commits that drop archived files, judged by real readers after each one.
#include "archive/archive_appender.hpp"

#include "archive/archive_checks.hpp"
#include "archive/archive_model.hpp"
#include "archive/archive_reader.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

namespace fs = std::filesystem;
using namespace sevenzfs::archive;
using namespace sevenzfs::test;

namespace {

write_options batched() {
  write_options options;
  options.plan.mode = pack_mode::batched;
  return options;
}

write_options solid() {
  write_options options;
  options.plan.mode = pack_mode::solid;
  return options;
}

// `count` files named PREFIX-i.txt of a few KiB each.
change adding(const std::string& prefix, int count, std::size_t bytes = 3000) {
  change what;
  for (int i = 0; i < count; ++i) {
    const std::string path = "d/" + prefix + "-" + std::to_string(i) + ".txt";
    what.add.emplace_back(path, sample_text(path, bytes + static_cast<std::size_t>(i) * 101));
  }
  return what;
}

change dropping(std::vector<std::string> paths) {
  change what;
  what.drop = std::move(paths);
  return what;
}

std::uint64_t packed_bytes(const archive_database& db) {
  return std::accumulate(db.pack_sizes.begin(), db.pack_sizes.end(), std::uint64_t{0});
}

struct engine_test : ::testing::Test {
  temp_dir dir;
  fs::path path = dir / "a.7z";
};

}  // namespace

TEST_F(engine_test, DropsAWholeFolderInTheMiddle) {
  archive_model model(path, batched());
  model.directories = {"d"};
  model.commit(adding("a", 5));
  ASSERT_EQ(model.appender().database().folders.size(), 5u);
  const auto result = model.commit(dropping({"d/a-2.txt"}));
  EXPECT_TRUE(result.rewritten) << "a folder in the middle cannot stay";
  EXPECT_EQ(result.kept_index, (std::vector<std::uint64_t>{0, 1, 2, 3}));
  EXPECT_EQ(result.reencoded_bytes, 0u);
  EXPECT_GT(result.copied_bytes, 0u);
  EXPECT_EQ(model.appender().database().folders.size(), 4u);
  EXPECT_EQ(model.appender().dead_bytes(), 0u);
  expect_readers_agree(path, model.tree());
}

TEST_F(engine_test, DropsABatchedFolderOfSeveralFilesInTheMiddle) {
  archive_model model(path, solid());
  model.directories = {"d"};
  model.commit(adding("a", 3));
  model.commit(adding("b", 4));  // a solid folder of its own
  model.commit(adding("c", 2));
  ASSERT_EQ(model.appender().database().folders.size(), 3u);
  const auto result = model.commit(dropping({"d/b-0.txt", "d/b-1.txt", "d/b-2.txt", "d/b-3.txt"}));
  EXPECT_TRUE(result.rewritten);
  EXPECT_EQ(result.reencoded_bytes, 0u) << "nothing of the dead folder is kept";
  EXPECT_EQ(model.appender().database().folders.size(), 2u);
  expect_readers_agree(path, model.tree());
}

// Dropping the oldest folders moves every kept pack: py7zr reads pack
// streams from byte 32 whatever the pack position says, so nothing may stay
// before them.
TEST_F(engine_test, DropsTheOldestFoldersByRewriting) {
  archive_model model(path, batched());
  model.directories = {"d"};
  model.commit(adding("old", 3));
  model.commit(adding("new", 2));
  const auto result = model.commit(dropping({"d/old-0.txt", "d/old-1.txt"}));
  EXPECT_TRUE(result.rewritten);
  EXPECT_EQ(model.appender().database().pack_position, 0u);
  EXPECT_EQ(model.appender().dead_bytes(), 0u);
  expect_readers_agree(path, model.tree());
}

TEST_F(engine_test, DropsTheNewestFoldersInPlaceThenCompacts) {
  archive_model model(path, batched());
  model.directories = {"d"};
  model.commit(adding("old", 3));
  model.commit(adding("new", 2));
  const auto size_before = fs::file_size(path);
  const std::string before = read_file(path);
  const std::uint64_t kept_packs = model.appender().folder_of_stream(0).second +
                                   model.appender().folder_of_stream(1).second +
                                   model.appender().folder_of_stream(2).second;
  const std::uint64_t dropped_packs =
      model.appender().folder_of_stream(3).second + model.appender().folder_of_stream(4).second;

  auto result = model.commit(dropping({"d/new-0.txt", "d/new-1.txt"}));
  EXPECT_FALSE(result.rewritten);
  EXPECT_EQ(read_file(path).substr(0, 32 + kept_packs).substr(32), before.substr(32, kept_packs))
      << "kept packs untouched";
  EXPECT_LE(fs::file_size(path), size_before);
  EXPECT_GT(fs::file_size(path), 32 + kept_packs + dropped_packs) << "the dropped packs are still in the file";
  EXPECT_GE(model.appender().dead_bytes(), dropped_packs);
  EXPECT_TRUE(model.appender().has_dead_space());
  EXPECT_EQ(read_archive(path.string()).file_size, fs::file_size(path));
  expect_readers_agree(path, model.tree());

  const auto dead = model.appender().dead_bytes();
  change compact;
  compact.compact = true;
  result = model.commit(compact);
  EXPECT_TRUE(result.rewritten);
  EXPECT_EQ(model.appender().dead_bytes(), 0u);
  EXPECT_FALSE(model.appender().has_dead_space());
  EXPECT_LE(fs::file_size(path) + dead, size_before);
  expect_readers_agree(path, model.tree());
}

// The next commit with new data writes over the bytes a tail drop left,
// once nobody can read them any more.
TEST_F(engine_test, NewPacksReuseTheBytesOfDroppedNewestFolders) {
  archive_model model(path, batched());
  model.directories = {"d"};
  model.commit(adding("old", 2));
  model.commit(adding("new", 2));
  model.commit(dropping({"d/new-0.txt", "d/new-1.txt"}));
  ASSERT_GT(model.appender().dead_bytes(), 0u);
  const auto result = model.commit(adding("next", 1));
  EXPECT_FALSE(result.rewritten);
  EXPECT_EQ(model.appender().dead_bytes(), 0u);
  expect_readers_agree(path, model.tree());
}

TEST_F(engine_test, DropsOneFileOfASolidFolder) {
  archive_model model(path, solid());
  model.directories = {"d"};
  model.commit(adding("s", 12));
  ASSERT_EQ(model.appender().database().folders.size(), 1u);
  const auto& sizes = model.appender().database().substream_sizes;
  const std::uint64_t total = std::accumulate(sizes.begin(), sizes.end(), std::uint64_t{0});
  const std::string dropped = model.stream_paths()[5];
  const auto result = model.commit(dropping({dropped}));
  EXPECT_TRUE(result.rewritten);
  EXPECT_EQ(result.reencoded_bytes, total - model.content.at(dropped).size());
  EXPECT_EQ(result.copied_bytes, 0u);
  EXPECT_EQ(model.appender().database().folders.size(), 1u) << "the survivors stay together";
  EXPECT_EQ(model.appender().stream_count(), 11u);
  expect_readers_agree(path, model.tree());
}

TEST_F(engine_test, SurvivorsOfSeveralFoldersKeepTheirOrder) {
  archive_model model(path, solid());
  model.directories = {"d"};
  model.commit(adding("a", 4));
  model.commit(adding("b", 4));
  model.commit(adding("c", 4));
  const auto before = model.stream_paths();
  const auto result = model.commit(dropping({"d/a-1.txt", "d/c-0.txt", "d/c-3.txt"}));
  EXPECT_TRUE(result.rewritten);
  // Kept folder b first (copied), then a's and c's survivors, each in its order.
  const std::vector<std::string> expected{before[4], before[5], before[6], before[7], before[0],
                                          before[2], before[3], before[9], before[10]};
  EXPECT_EQ(model.stream_paths(), expected);
  EXPECT_EQ(model.appender().database().folders.size(), 3u);
  expect_readers_agree(path, model.tree());
}

TEST_F(engine_test, DropsEveryFile) {
  archive_model model(path, solid());
  model.directories = {"d", "e"};
  model.commit(adding("a", 3));
  model.commit(adding("b", 2));
  std::vector<std::string> all = model.stream_paths();
  auto result = model.commit(dropping(all));
  EXPECT_TRUE(result.rewritten);
  EXPECT_EQ(model.appender().stream_count(), 0u);
  EXPECT_EQ(model.appender().dead_bytes(), 0u);
  expect_readers_agree(path, model.tree());

  model.directories.clear();
  result = model.commit({});
  EXPECT_EQ(fs::file_size(path), 32u) << "nothing left: the empty archive";
  expect_readers_agree(path, model.tree());
  // And it takes new files again.
  model.commit(adding("again", 2));
  expect_readers_agree(path, model.tree());
}

TEST_F(engine_test, DropsAndRenamesTogether) {
  archive_model model(path, solid());
  model.directories = {"d", "e"};
  model.commit(adding("a", 6));
  change what = dropping({"d/a-1.txt", "d/a-4.txt"});
  what.rename = {{"d/a-0.txt", "e/zero.txt"}, {"d/a-5.txt", "e/five.txt"}};
  const auto result = model.commit(what);
  EXPECT_TRUE(result.rewritten);
  EXPECT_GT(result.reencoded_bytes, 0u);
  const auto tree = model.tree();
  EXPECT_TRUE(tree.files.contains("e/zero.txt"));
  EXPECT_FALSE(tree.files.contains("d/a-0.txt"));
  expect_readers_agree(path, tree);
  // Renames alone stay in place.
  change rename_only;
  rename_only.rename = {{"e/zero.txt", "e/null.txt"}};
  EXPECT_FALSE(model.commit(rename_only).rewritten);
  expect_readers_agree(path, model.tree());
}

TEST_F(engine_test, NewFilesWithDrops) {
  archive_model model(path, batched());
  model.directories = {"d"};
  model.commit(adding("a", 4));
  change what = adding("b", 3);
  what.drop = {"d/a-0.txt", "d/a-3.txt"};
  const auto result = model.commit(what);
  EXPECT_TRUE(result.rewritten);
  EXPECT_EQ(result.input_bytes, 3000u * 3 + 101 * 3);
  expect_readers_agree(path, model.tree());
  // Reopened from disk, the same state.
  model.reopen();
  EXPECT_EQ(model.appender().stream_count(), 5u);
  EXPECT_FALSE(model.appender().has_dead_space());
}

TEST_F(engine_test, CompactWithNothingDeadStaysInPlace) {
  archive_model model(path, batched());
  model.commit(adding("a", 2));
  change compact;
  compact.compact = true;
  EXPECT_FALSE(model.commit(compact).rewritten);
  EXPECT_EQ(model.appender().dead_bytes(), 0u);
  expect_readers_agree(path, model.tree());
}

TEST_F(engine_test, RewriteKeepsModeAndFolderBytes) {
  archive_model model(path, batched());
  model.commit(adding("a", 3));
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  const auto folder0 = read_file(path).substr(32, model.appender().folder_of_stream(0).second);
  model.commit(dropping({"d/a-1.txt"}));
  EXPECT_EQ(fs::status(path).permissions(), fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  EXPECT_EQ(read_file(path).substr(32, folder0.size()), folder0) << "kept packed bytes copied verbatim";
  EXPECT_EQ(packed_bytes(read_archive(path.string()).db), packed_bytes(model.appender().database()));
}
