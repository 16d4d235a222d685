#include "archive/commit_plan.hpp"

#include "archive/archive_error.hpp"

#include <gtest/gtest.h>

using namespace sevenzfs::archive;

namespace {

// Folders of the given file counts, one pack stream each, files named f0, f1, ...
archive_database database_of(const std::vector<std::uint64_t>& counts) {
  archive_database db;
  std::uint64_t stream = 0;
  for (auto count : counts) {
    db.folders.push_back(make_folder({kMethodLzma2, {0x10}}, count * 10));
    db.pack_sizes.push_back(count * 3);
    db.substream_counts.push_back(count);
    for (std::uint64_t k = 0; k < count; ++k, ++stream) {
      db.substream_sizes.push_back(10);
      db.substream_crcs.emplace_back(static_cast<std::uint32_t>(stream));
      file_info file;
      file.name = "f";
      file.name += std::to_string(stream);
      file.has_stream = true;
      file.ctime = 1000 + stream;
      db.files.push_back(file);
    }
  }
  return db;
}

commit_request keeping(const std::vector<std::uint64_t>& streams) {
  commit_request request;
  for (auto s : streams) request.kept_streams.push_back({s, {}});
  return request;
}

const auto decodable = [](std::size_t) { return false; };

}  // namespace

TEST(CommitPlan, FatesFollowWhatEachFolderKeeps) {
  const auto db = database_of({2, 3, 1, 2});
  const auto plan = plan_commit(db, keeping({0, 1, 3, 7}), decodable);
  EXPECT_EQ(plan.fates, (std::vector<folder_fate>{folder_fate::kept, folder_fate::reencoded, folder_fate::dead,
                                                  folder_fate::reencoded}));
  EXPECT_EQ(plan.first_stream, (std::vector<std::uint64_t>{0, 2, 5, 6}));
  EXPECT_EQ(plan.kept_prefix(), 1u);
  EXPECT_EQ(plan.count(folder_fate::reencoded), 2u);
  EXPECT_TRUE(plan.kept_anyway.empty());
}

TEST(CommitPlan, AnUndecodableFolderStaysWholeAndNamesItsDroppedStreams) {
  const auto db = database_of({3, 2});
  const auto plan = plan_commit(db, keeping({1, 3}), [](std::size_t folder) { return folder == 0; });
  EXPECT_EQ(plan.fates, (std::vector<folder_fate>{folder_fate::kept, folder_fate::reencoded}));
  EXPECT_EQ(plan.kept_anyway, (std::vector<std::uint64_t>{0, 2}));
}

TEST(DatabaseBuilder, NumbersStreamsInTheNewOrderAndKeepsDescriptions) {
  const auto db = database_of({2, 2, 1});
  commit_request request = keeping({1, 2, 3});
  entry shown;
  shown.path = "renamed";
  shown.mode = 0600;
  request.kept_streams[1].shown = std::make_shared<const entry>(shown);  // stream 2
  entry added;
  added.path = "new";
  added.size = 7;
  request.new_files.push_back(added);
  entry directory;
  directory.path = "dir";
  directory.kind = entry_kind::directory;
  request.entries_without_data.push_back(directory);
  const auto plan = plan_commit(db, request, decodable);

  database_builder builder(db, request, plan);
  builder.add_archived_folder(1);  // streams 2, 3 come first
  archive_database part;           // folder 0's survivor and the new file, as a packer records them
  part.folders.push_back(make_folder({kMethodLzma2, {0x10}}, 17));
  part.pack_sizes.push_back(9);
  part.substream_counts.push_back(2);
  part.substream_sizes = {10, 7};
  part.substream_crcs = {std::uint32_t{1}, std::uint32_t{99}};
  const std::vector<stream_origin> origins{{true, 1}, {false, 0}};
  builder.add_packed(part, origins);
  commit_result result;
  const auto next = std::move(builder).finish(0, result);

  EXPECT_EQ(result.kept_index, (std::vector<std::uint64_t>{2, 0, 1}));
  EXPECT_EQ(result.stream_index, (std::vector<std::uint64_t>{3}));
  EXPECT_EQ(next.pack_sizes, (std::vector<std::uint64_t>{6, 9}));
  EXPECT_EQ(next.substream_counts, (std::vector<std::uint64_t>{2, 2}));
  ASSERT_EQ(next.files.size(), 5u);
  EXPECT_EQ(next.files[0].name, "renamed");
  EXPECT_EQ(next.files[0].ctime, 1002u) << "the creation time the header had";
  EXPECT_EQ(next.files[1].name, "f3");
  EXPECT_EQ(next.files[2].name, "f1");
  EXPECT_EQ(next.files[3].name, "new");
  EXPECT_EQ(next.files[4].name, "dir");
  EXPECT_FALSE(next.files[4].has_stream);
}

TEST(DatabaseBuilder, RefusesToLoseAKeptStream) {
  const auto db = database_of({1, 1});
  const auto request = keeping({0, 1});
  const auto plan = plan_commit(db, request, decodable);
  database_builder builder(db, request, plan);
  builder.add_archived_folder(0);
  commit_result result;
  EXPECT_THROW((void)std::move(builder).finish(0, result), archive_error);
}
