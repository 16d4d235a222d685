#include "archive/archive_reader.hpp"

#include "archive/archive_error.hpp"
#include "archive/file_attributes.hpp"
#include "archive/archive_writer.hpp"
#include "archive/crc32.hpp"
#include "archive/header_serializer.hpp"
#include "test_support.hpp"
#include "tools/fixture_tree.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace fs = std::filesystem;
using namespace sevenzfs::archive;
using namespace sevenzfs::test;

namespace {

entry text_file(std::string path, std::string_view text, std::uint32_t mode = 0644) {
  entry e;
  e.path = std::move(path);
  e.mode = mode;
  e.mtime = {1'700'000'000, 123456700};
  e.size = text.size();
  if (!text.empty()) e.content = std::make_shared<memory_content>(text);
  return e;
}

// Rebuilds `source` as a new archive: its pack streams copied verbatim, then
// the parsed database serialized as a plain header. This is what an append
// does with the old part of an archive.
void rewrite_with_parsed_header(const fs::path& source, const fs::path& target) {
  const auto layout = read_archive(source.string());
  std::string bytes = read_file(source);
  std::string packs = bytes.substr(32, layout.packs_end - 32);
  const auto header = serialize_header(layout.db);
  const auto start = make_start_header(packs.size(), header.size(), crc32::of(header));
  std::ofstream out(target, std::ios::binary);
  out.write(reinterpret_cast<const char*>(start.data()), 32);
  out << packs;
  out.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
}

}  // namespace

TEST(ArchiveReader, ReadsBackWhatTheWriterWrote) {
  temp_dir dir;
  const auto path = (dir / "a.7z").string();
  const std::vector<entry> entries{{"d", entry_kind::directory, 0750, {1'600'000'000, 0}, 0, nullptr},
                                   text_file("d/a.txt", "alpha alpha alpha"),
                                   text_file("d/empty", ""),
                                   text_file("b.log", std::string(70000, 'b'), 0600),
                                   text_file("\xf0\x9f\x98\x80.txt", "emoji")};
  for (auto mode : {pack_mode::solid, pack_mode::batched}) {
    write_options options;
    options.plan.mode = mode;
    write_archive(path, entries, options);
    const auto layout = read_archive(path);
    const auto& db = layout.db;
    ASSERT_EQ(db.files.size(), 5u);
    EXPECT_EQ(db.files[0].name, "d");
    EXPECT_TRUE(db.files[0].is_directory);
    EXPECT_EQ(db.files[0].attributes, attributes_from_mode(040750));
    EXPECT_EQ(db.files[1].name, "d/empty");
    EXPECT_FALSE(db.files[1].is_directory);
    EXPECT_FALSE(db.files[1].has_stream);
    std::uint64_t total = 0;
    for (auto s : db.substream_sizes) total += s;
    EXPECT_EQ(total, 17u + 70000 + 5);
    EXPECT_EQ(db.folders.size(), mode == pack_mode::solid ? 1u : 3u);
    for (const auto& crc : db.substream_crcs) EXPECT_TRUE(crc.has_value());
    EXPECT_EQ(db.files.back().mtime, filetime_from_unix(1'700'000'000, 123456700));
    EXPECT_LT(layout.packs_end, layout.header_offset + 1);
    EXPECT_EQ(layout.header_offset + layout.header_size, layout.file_size);
  }
}

TEST(ArchiveReader, ReadsSevenZipArchivesAndWritesThemBackFaithfully) {
  temp_dir dir;
  make_fixture_tree(dir / "src");
  // Plain header; LZMA-compressed header (7-Zip's default); a BCJ+LZMA2 chain.
  const std::vector<std::string> switches{"-mhc=off -ms=on", "-ms=off", "-m0=BCJ -m1=LZMA2 -ms=on"};
  for (std::size_t i = 0; i < switches.size(); ++i) {
    SCOPED_TRACE(switches[i]);
    const auto made = dir / ("by7zz" + std::to_string(i) + ".7z");
    const auto added =
        run("cd " + quote(dir.path().string()) + " && 7zz a -snl " + switches[i] + " " + quote(made.string()) + " src");
    ASSERT_EQ(added.exit_code, 0) << added.output;
    const auto layout = read_archive(made.string());
    EXPECT_GT(layout.db.files.size(), 150u);
    const auto rewritten = dir / ("rewritten" + std::to_string(i) + ".7z");
    rewrite_with_parsed_header(made, rewritten);
    const auto tested = run("7zz t " + quote(rewritten.string()));
    EXPECT_EQ(tested.exit_code, 0) << tested.output;
    const auto out = dir / ("x" + std::to_string(i));
    ASSERT_EQ(run("7zz x -snld -o" + quote(out.string()) + " " + quote(rewritten.string())).exit_code, 0);
    EXPECT_EQ(compare_trees(dir / "src", out / "src"), std::vector<std::string>{});
  }
}

TEST(ArchiveReader, EmptyArchive) {
  temp_dir dir;
  const auto path = (dir / "e.7z").string();
  write_archive(path, {}, {});
  const auto layout = read_archive(path);
  EXPECT_TRUE(layout.db.empty());
  EXPECT_EQ(layout.packs_end, 32u);
}

TEST(ArchiveReader, RefusesWhatIsNotAValidArchive) {
  temp_dir dir;
  const auto good = (dir / "good.7z").string();
  write_archive(good, std::vector<entry>{text_file("a", "some text"), text_file("b", "more text")}, {});
  const std::string bytes = read_file(good);
  auto expect_corrupt = [&](const std::string& name, const std::string& content, const std::string& says) {
    const auto path = (dir / name).string();
    write_file(path, content);
    try {
      read_archive(path);
      ADD_FAILURE() << name << " was accepted";
    } catch (const archive_error& e) {
      EXPECT_EQ(e.kind(), error_kind::corrupt_archive) << name;
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  };
  expect_corrupt("text.7z", "just some text, not an archive at all", "not a 7z archive");
  expect_corrupt("short.7z", "7z", "too short");
  expect_corrupt("truncated.7z", bytes.substr(0, bytes.size() - 5), "beyond the end");
  std::string flipped = bytes;
  flipped[flipped.size() - 3] = static_cast<char>(flipped[flipped.size() - 3] ^ 0x40);
  expect_corrupt("flipped.7z", flipped, "header CRC mismatch");
  std::string bad_start = bytes;
  bad_start[20] = static_cast<char>(bad_start[20] ^ 1);
  expect_corrupt("badstart.7z", bad_start, "start header CRC");
  expect_corrupt("zeros.7z", std::string(32, '\0') + "xx", "not a 7z archive");
  EXPECT_THROW(read_archive((dir / "missing.7z").string()), archive_error);
}
