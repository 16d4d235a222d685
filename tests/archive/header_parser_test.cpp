#include "archive/header_parser.hpp"

#include "archive/archive_error.hpp"
#include "archive/archive_limits.hpp"
#include "archive/files_info_parser.hpp"
#include "archive/header_serializer.hpp"

#include <gtest/gtest.h>

#include <chrono>

using namespace sevenzfs::archive;
using bytes = std::vector<std::uint8_t>;

namespace {

error_kind refusal(const bytes& header) {
  try {
    parse_header(header, "test.7z");
  } catch (const archive_error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "accepted";
  return error_kind::io;
}

// One file whose content is the folder's.
archive_database with_folder(const folder_info& folder) {
  archive_database db;
  db.folders = {folder};
  db.pack_sizes.assign(folder.packed_streams().size(), 10);
  db.substream_counts = {1};
  db.substream_sizes = {folder.unpack_size()};
  db.substream_crcs = {std::nullopt};
  db.files.resize(1);
  db.files[0].name = std::string{"f"};
  db.files[0].has_stream = true;
  return db;
}

// 7-Zip's BCJ2 folder: the BCJ2 decoder reads three LZMA outputs and one
// stored stream; four pack streams feed it.
folder_graph bcj2_graph() {
  folder_graph folder;
  folder.coders = {{{0x03, 0x03, 0x01, 0x1B}, {}, 4, 1},
                   {kMethodLzma, {0x5d, 0, 0, 1, 0}, 1, 1},
                   {kMethodLzma, {0x5d, 0, 0, 1, 0}, 1, 1},
                   {kMethodLzma, {0x5d, 0, 0, 1, 0}, 1, 1}};
  folder.bind_pairs = {{0, 1}, {1, 2}, {2, 3}};
  folder.packed_streams = {3, 4, 5, 6};
  return folder;
}

folder_info bcj2_folder(folder_graph graph = bcj2_graph()) { return folder_info(std::move(graph), {100, 90, 5, 5}); }

}  // namespace

TEST(DefaultItemName, AsSevenZipNamesNamelessEntries) {
  EXPECT_EQ(default_item_name("x.7z"), "x");
  EXPECT_EQ(default_item_name("/some/dir/my.archive.tar.7z"), "my.archive.tar");
  EXPECT_EQ(default_item_name("a.7Z"), "a");
  EXPECT_EQ(default_item_name("x.tar.gz"), "x.tar");
  EXPECT_EQ(default_item_name("foo.zip"), "foo");
  EXPECT_EQ(default_item_name("noext"), "noext~");
  EXPECT_EQ(default_item_name(".7z"), ".7z~");
  EXPECT_EQ(default_item_name("dir/.hidden"), ".hidden~");
  EXPECT_EQ(default_item_name("sp ace .7z"), "sp ace");
  EXPECT_EQ(default_item_name("trail. "), "trail");
}

TEST(HeaderParser, NamelessDirectoriesAndFiles) {
  // Two entries, no kName: a directory, then an empty file.
  const bytes header{0x01, 0x05, 0x02, 0x0e, 0x01, 0xc0, 0x0f, 0x01, 0x40, 0x00, 0x00};
  const auto db = parse_header(header, "/tmp/stdin.7z");
  ASSERT_EQ(db.files.size(), 2u);
  EXPECT_EQ(db.files[0].name, "");
  EXPECT_TRUE(db.files[0].is_directory);
  EXPECT_EQ(db.files[1].name, "stdin");
  EXPECT_FALSE(db.files[1].is_directory);
}

TEST(HeaderParser, CountsAreBoundedByTheBytesThatRemain) {
  // Three entries claimed with two bytes left.
  EXPECT_EQ(refusal({0x01, 0x05, 0x03, 0x00, 0x00}), error_kind::corrupt_archive);
  // 2^40 pack streams.
  EXPECT_EQ(refusal({0x01, 0x04, 0x06, 0x00, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x01, 0x09, 0x01, 0x00}),
            error_kind::corrupt_archive);
  // Names for more files than there are.
  EXPECT_EQ(refusal({0x01, 0x05, 0x01, 0x0e, 0x01, 0x80, 0x11, 0x07, 0x00, 'a', 0, 0, 0, 'b', 0, 0, 0, 0x00, 0x00}),
            error_kind::corrupt_archive);
}

TEST(HeaderParser, TensOfMillionsOfRealEntriesAreUnsupportedBeforeAnythingIsAllocated) {
  // 40 million directories with empty names: a valid header of 85 MB.
  byte_writer out;
  out.byte(property_id::kHeader);
  out.byte(property_id::kFilesInfo);
  out.number(40'000'000);
  out.byte(property_id::kEmptyStream);
  out.number(5'000'000);
  out.bytes(bytes(5'000'000, 0xff));
  out.byte(property_id::kName);
  out.number(80'000'001);
  out.bytes(bytes(80'000'001, 0));
  out.byte(0);
  out.byte(0);
  const auto started = std::chrono::steady_clock::now();
  try {
    parse_header(out.data(), "bomb.7z");
    ADD_FAILURE() << "accepted";
  } catch (const archive_error& e) {
    EXPECT_EQ(e.kind(), error_kind::unsupported) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::to_string(kMaxEntries)), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(100));
}

// Work in proportion to the header, not to files x properties: 100,000
// files followed by 100,000 empty properties.
TEST(HeaderParser, ManyPropertiesCostLinearTime) {
  byte_writer out;
  out.byte(property_id::kHeader);
  out.byte(property_id::kFilesInfo);
  out.number(100'000);
  for (int i = 0; i < 100'000; ++i) {
    out.byte(0x19);  // kDummy
    out.byte(0);
  }
  out.byte(0);
  out.byte(0);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(refusal(out.data()), error_kind::corrupt_archive);  // 100,000 files with data, no streams
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(200));
}

TEST(HeaderParser, KeepsCreationAndAccessTimes) {
  auto db = with_folder(make_folder({kMethodCopy, {}}, 4));
  db.files[0].ctime = 111;
  db.files[0].atime = 222;
  db.files[0].mtime = 333;
  db.files.resize(2);
  db.files[1].name = std::string{"d"};
  db.files[1].is_directory = true;
  db.files[1].atime = 444;
  const auto parsed = parse_header(serialize_header(db), "t.7z");
  ASSERT_EQ(parsed.files.size(), 2u);
  EXPECT_EQ(parsed.files[0].ctime, 111u);
  EXPECT_EQ(parsed.files[0].atime, 222u);
  EXPECT_EQ(parsed.files[0].mtime, 333u);
  EXPECT_EQ(parsed.files[1].ctime, std::nullopt);
  EXPECT_EQ(parsed.files[1].atime, 444u);
}

// Folders of one method and settings share one graph after parsing; others
// have their own. (The header declares one LZMA2 dictionary for all
// folders, the largest, as 7-Zip's does.)
TEST(HeaderParser, FoldersOfOneMethodAndSettingsShareTheirGraph) {
  archive_database db;
  for (const bool stored : {false, false, true, false, true}) {
    db.folders.push_back(stored ? make_folder({kMethodCopy, {}}, 10) : make_folder({kMethodLzma2, {0x10}}, 10));
    db.pack_sizes.push_back(stored ? 10 : 5);
    db.substream_counts.push_back(1);
    db.substream_sizes.push_back(10);
    db.substream_crcs.push_back(std::nullopt);
  }
  db.folders.push_back(bcj2_folder());
  db.pack_sizes.insert(db.pack_sizes.end(), {10, 10, 10, 10});
  db.substream_counts.push_back(1);
  db.substream_sizes.push_back(100);
  db.substream_crcs.push_back(std::nullopt);
  for (int f = 0; f < 6; ++f) {
    db.files.emplace_back();
    db.files.back().name = std::to_string(f);
    db.files.back().has_stream = true;
  }
  const auto parsed = parse_header(serialize_header(db), "t.7z");
  ASSERT_EQ(parsed.folders.size(), 6u);
  const auto graph = [&](std::size_t f) { return parsed.folders[f].shared_graph().get(); };
  EXPECT_EQ(graph(0), graph(1));
  EXPECT_EQ(graph(0), graph(3));
  EXPECT_EQ(graph(2), graph(4));
  EXPECT_NE(graph(0), graph(2));
  EXPECT_NE(graph(5), graph(0));
  for (std::size_t f = 0; f < 6; ++f) EXPECT_EQ(parsed.folders[f].graph(), db.folders[f].graph()) << f;
}

TEST(HeaderParser, CoderGraphsMustBeTrees) {
  const auto bcj2 = parse_header(serialize_header(with_folder(bcj2_folder())), "t.7z");
  ASSERT_EQ(bcj2.folders.size(), 1u);
  EXPECT_EQ(bcj2.folders[0].packed_streams(), (small_vector<std::uint64_t, 1>{3, 4, 5, 6}));
  EXPECT_EQ(bcj2.folders[0].unpack_size(), 100u);

  // BCJ2 and the first LZMA feed each other, detached from the output.
  auto loop = bcj2_graph();
  loop.bind_pairs = {{0, 1}, {1, 2}, {4, 0}};
  loop.packed_streams = {2, 3, 5, 6};
  EXPECT_EQ(refusal(serialize_header(with_folder(bcj2_folder(loop)))), error_kind::corrupt_archive);

  // A fifth coder that reads its own output.
  auto unread = bcj2_graph();
  unread.coders.push_back({kMethodCopy, {}, 1, 1});
  unread.bind_pairs.push_back({7, 4});
  EXPECT_EQ(refusal(serialize_header(with_folder(folder_info(unread, {100, 90, 5, 5, 1})))),
            error_kind::corrupt_archive);

  // A coder whose second output feeds its only input: no pack stream left.
  folder_graph unfed;
  unfed.coders = {{kMethodCopy, {}, 1, 2}};
  unfed.bind_pairs = {{0, 1}};
  unfed.packed_streams = {};
  EXPECT_EQ(refusal(serialize_header(with_folder(folder_info(unfed, {1, 1})))), error_kind::corrupt_archive);
}

TEST(HeaderParser, ExternalDataAndAntiItemsAreUnsupported) {
  // kName with External = 1.
  EXPECT_EQ(refusal({0x01, 0x05, 0x01, 0x0e, 0x01, 0x80, 0x11, 0x02, 0x01, 0x00, 0x00, 0x00}), error_kind::unsupported);
  // An anti-item.
  EXPECT_EQ(refusal({0x01, 0x05, 0x01, 0x0e, 0x01, 0x80, 0x10, 0x01, 0x80, 0x00, 0x00}), error_kind::unsupported);
}
