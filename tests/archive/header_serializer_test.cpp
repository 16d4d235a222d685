#include "archive/header_serializer.hpp"

#include "archive/archive_error.hpp"
#include "archive/file_attributes.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

using namespace sevenzfs::archive;
using bytes = std::vector<std::uint8_t>;

namespace {

// The database of `7zz a -ms=on` over a.txt (6 bytes), dir/b.txt (8) and a
// 6-byte third file in one LZMA2 folder (notes A.1).
archive_database three_files_in_one_folder() {
  archive_database db;
  db.pack_position = 0;
  db.pack_sizes = {24};
  db.folders = {make_folder({kMethodLzma2, {0x00}}, 20)};
  db.substream_counts = {3};
  db.substream_sizes = {6, 8, 6};
  db.substream_crcs = {0x11111111u, 0x22222222u, 0x33333333u};
  return db;
}

}  // namespace

TEST(HeaderSerializer, PackInfo) {
  byte_writer out;
  write_pack_info(out, 0, {24});
  EXPECT_EQ(out.data(), (bytes{0x06, 0x00, 0x01, 0x09, 0x18, 0x00}));
}

TEST(HeaderSerializer, UnpackInfoWithLzma2Folder) {
  byte_writer out;
  write_unpack_info(out, three_files_in_one_folder().folders);
  EXPECT_EQ(out.data(), (bytes{0x07, 0x0b, 0x01, 0x00, 0x01, 0x21, 0x21, 0x01, 0x00, 0x0c, 0x14, 0x00}));
}

TEST(HeaderSerializer, LzmaTwoFoldersDeclareTheLargestDictionaryAmongThem) {
  // 0x0e: 48 KiB, 0x12: 768 KiB; a Copy folder keeps no properties.
  byte_writer out;
  write_unpack_info(out, {make_folder({kMethodLzma2, {0x0e}}, 5), make_folder({kMethodCopy, {}}, 3),
                          make_folder({kMethodLzma2, {0x12}}, 7)});
  EXPECT_EQ(out.data(), (bytes{0x07, 0x0b, 0x03, 0x00,        //
                               0x01, 0x21, 0x21, 0x01, 0x12,  // first: declared 0x12
                               0x01, 0x01, 0x00,              // Copy
                               0x01, 0x21, 0x21, 0x01, 0x12,  //
                               0x0c, 0x05, 0x03, 0x07, 0x00}));
}

TEST(HeaderSerializer, CopyFolderHasNoProperties) {
  byte_writer out;
  write_folder(out, make_folder({kMethodCopy, {}}, 5));
  EXPECT_EQ(out.data(), (bytes{0x01, 0x01, 0x00}));
}

TEST(HeaderSerializer, SubStreamsInfoSolid) {
  byte_writer out;
  write_substreams_info(out, three_files_in_one_folder());
  EXPECT_EQ(out.data(), (bytes{0x08, 0x0d, 0x03, 0x09, 0x06, 0x08, 0x0a, 0x01, 0x11, 0x11, 0x11,
                               0x11, 0x22, 0x22, 0x22, 0x22, 0x33, 0x33, 0x33, 0x33, 0x00}));
}

TEST(HeaderSerializer, SubStreamsInfoOneFilePerFolderOmitsCountsAndSizes) {
  archive_database db;
  db.pack_sizes = {3, 4};
  db.folders = {make_folder({kMethodCopy, {}}, 3), make_folder({kMethodCopy, {}}, 4)};
  db.substream_counts = {1, 1};
  db.substream_sizes = {3, 4};
  db.substream_crcs = {0xAABBCCDDu, std::nullopt};
  byte_writer out;
  write_substreams_info(out, db);
  // Only the first CRC is defined: vector 1000 0000.
  EXPECT_EQ(out.data(), (bytes{0x08, 0x0a, 0x00, 0x80, 0xdd, 0xcc, 0xbb, 0xaa, 0x00}));
}

TEST(HeaderSerializer, FilesInfoWithDirectoryEmptyFileAndStream) {
  std::vector<file_info> files(3);
  files[0].name = std::string{"d"};
  files[0].is_directory = true;
  files[0].attributes = attributes_from_mode(S_IFDIR | 0755);
  files[1].name = std::string{"e"};
  files[2].name = std::string{"d/\xc3\xa9"};
  files[2].has_stream = true;
  files[2].mtime = 0x0102030405060708;
  byte_writer out;
  write_files_info(out, files);
  const bytes expected{
      0x05, 0x03,        // kFilesInfo, 3 files
      0x0e, 0x01, 0xc0,  // kEmptyStream 1100 0000
      0x0f, 0x01, 0x40,  // kEmptyFile (of the 2 empty): 0100 0000
      0x11, 0x11, 0x00, 'd',  0,    0,    0,    'e',  0,    0,    0,    'd',  0,    '/', 0, 0xe9, 0, 0, 0,  // kName
      0x14, 0x0b, 0x00, 0x20, 0x00, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  // kMTime: only file 3
      0x15, 0x07, 0x00, 0x80, 0x00, 0x10, 0x80, 0xed, 0x41,                          // kWinAttributes: only file 1
      0x00};
  EXPECT_EQ(out.data(), expected);
}

TEST(HeaderSerializer, CreationAndAccessTimesPrecedeModificationTime) {
  std::vector<file_info> files(2);
  files[0].name = std::string{"a"};
  files[0].mtime = 0x3333333333333333;
  files[1].name = std::string{"b"};
  files[1].mtime = 0x3434343434343434;
  files[1].ctime = 0x1111111111111111;
  files[1].atime = 0x2222222222222222;
  for (auto& f : files) f.has_stream = true;
  byte_writer out;
  write_files_info(out, files);
  const bytes expected{
      0x05, 0x02,                                                                    // kFilesInfo, 2 files
      0x11, 0x09, 0x00, 'a',  0,    0,    0,    'b',  0,    0,    0,                 // kName
      0x12, 0x0b, 0x00, 0x40, 0x00, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,  // kCTime: only file 2
      0x13, 0x0b, 0x00, 0x40, 0x00, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,  // kATime: only file 2
      0x14, 0x12, 0x01, 0x00, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33,        // kMTime: all defined
      0x34, 0x34, 0x34, 0x34, 0x34, 0x34, 0x34, 0x34, 0x00};
  EXPECT_EQ(out.data(), expected);
}

TEST(HeaderSerializer, InvalidUtf8NameIsATypedError) {
  std::vector<file_info> files(1);
  files[0].name = std::string{"bad\xff"};
  byte_writer out;
  try {
    write_files_info(out, files);
    FAIL() << "expected an error";
  } catch (const archive_error& e) {
    EXPECT_EQ(e.kind(), error_kind::invalid_name);
    EXPECT_EQ(e.path(), "bad\xff");
  }
}

TEST(HeaderSerializer, ArchiveOfOnlyDirectoriesHasNoStreamsInfo) {
  archive_database db;
  db.files.resize(1);
  db.files[0].name = std::string{"d"};
  db.files[0].is_directory = true;
  EXPECT_EQ(serialize_header(db),
            (bytes{0x01, 0x05, 0x01, 0x0e, 0x01, 0x80, 0x11, 0x05, 0x00, 'd', 0, 0, 0, 0x00, 0x00}));
}

TEST(HeaderSerializer, EncodedHeaderCarriesFolderCrc) {
  const folder_info folder = make_folder({kMethodLzma2, {0x10}}, 300, 0xDEADBEEFu);
  EXPECT_EQ(serialize_encoded_header(1000, 120, folder),
            (bytes{0x17, 0x06, 0x83, 0xe8, 0x01, 0x09, 0x78, 0x00, 0x07, 0x0b, 0x01, 0x00, 0x01, 0x21,
                   0x21, 0x01, 0x10, 0x0c, 0x81, 0x2c, 0x0a, 0x01, 0xef, 0xbe, 0xad, 0xde, 0x00, 0x00}));
}

TEST(StartHeader, MatchesSevenZipDump) {
  // 7zz's start header for a 202-byte header at offset 0x18 (notes A.1).
  const auto header = make_start_header(0x18, 0xca, 0x4889a692);
  const bytes expected{0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0x00, 0x04, 0x36, 0x34, 0xa1, 0x90, 0x18, 0x00, 0x00, 0x00,
                       0x00, 0x00, 0x00, 0x00, 0xca, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x92, 0xa6, 0x89, 0x48};
  EXPECT_EQ(bytes(header.begin(), header.end()), expected);
}

TEST(Attributes, UnixExtensionAsSevenZipWritesIt) {
  EXPECT_EQ(attributes_from_mode(S_IFDIR | 0755), 0x41ED8010u);
  EXPECT_EQ(attributes_from_mode(S_IFREG | 0644), 0x81A48020u);
  EXPECT_EQ(attributes_from_mode(S_IFLNK | 0777), 0xA1FF8020u);
  EXPECT_EQ(attributes_from_mode(S_IFREG | 0444), 0x81248021u);  // read-only flag
}

TEST(FileTime, UnixEpochAndResolution) {
  EXPECT_EQ(filetime_from_unix(0, 0), 116444736000000000u);
  EXPECT_EQ(filetime_from_unix(1, 999'999'999), 116444736000000000u + 19'999'999u);
  EXPECT_EQ(filetime_from_unix(-11'644'473'600, 0), 0u);
  EXPECT_FALSE(filetime_from_unix(-11'644'473'601, 0));
}

// A time set in the mount is clamped to what 7z holds, as the kernel clamps
// times to a filesystem's range (touch -d 1500-01-01 was stored as no time).
TEST(FileTime, TimesOutsideFiletimesRangeBecomeItsNearest) {
  EXPECT_EQ(nearest_filetime({-20'000'000'000, 5}).tv_sec, -11'644'473'600);
  EXPECT_EQ(filetime_from_unix(nearest_filetime({-20'000'000'000, 5})), 1u) << "0 is no time to 7-Zip";
  EXPECT_EQ(filetime_from_unix(nearest_filetime({-11'644'473'600, 0})), 1u);
  EXPECT_EQ(filetime_from_unix(nearest_filetime({-11'644'473'600, 200})), 2u);
  const std::timespec latest = nearest_filetime({INT64_MAX / 2, 0});
  EXPECT_EQ(filetime_from_unix(latest), 0x7FFF'FFFF'FFFF'FFFFu);
  EXPECT_EQ(nearest_filetime({latest.tv_sec, 999'999'999}).tv_nsec, latest.tv_nsec);
  const std::timespec now{1'700'000'000, 123'456'789};
  EXPECT_EQ(nearest_filetime(now).tv_sec, now.tv_sec);
  EXPECT_EQ(nearest_filetime(now).tv_nsec, now.tv_nsec);
}

// A commit leaves out the entries of kept files the header describes as
// they are: whatever describe_entry would record differently must count.
TEST(Attributes, AnEntryDescribesAsTheFileInfoItWouldRecord) {
  // As the committer shows a kept file: no size, so no stream of its own.
  entry e;
  e.path = "d/a.txt";
  e.mode = 0640;
  e.mtime = {1'700'000'000, 123'456'700};
  file_info archived = describe_entry(e);
  archived.has_stream = true;  // aside: the archived file has one
  archived.ctime = 42;         // kept from the header anyway
  EXPECT_TRUE(describes_as(e, archived));
  const auto differs = [&](auto change) {
    entry other = e;
    change(other);
    return !describes_as(other, archived);
  };
  EXPECT_TRUE(differs([](entry& x) { x.path = "d/b.txt"; }));
  EXPECT_TRUE(differs([](entry& x) { x.mode = 0644; }));
  EXPECT_TRUE(differs([](entry& x) { x.mtime.tv_nsec += 100; }));  // one FILETIME tick
  EXPECT_FALSE(differs([](entry& x) { x.mtime.tv_nsec += 99; }));  // below it: the same record
  EXPECT_TRUE(differs([](entry& x) { x.kind = entry_kind::symlink; }));
  EXPECT_TRUE(differs([](entry& x) { x.kind = entry_kind::directory; }));
  EXPECT_FALSE(differs([](entry& x) { x.size = 9; }));  // the content is the stream's
  // Headers of other writers: attributes without the Unix extension, or no
  // time, are not what the mount would record.
  file_info windows = archived;
  windows.attributes = 0x20;
  EXPECT_FALSE(describes_as(e, windows));
  file_info untimed = archived;
  untimed.mtime.reset();
  EXPECT_FALSE(describes_as(e, untimed));
  entry ancient = e;
  ancient.mtime = {-11'644'473'601, 0};  // before 1601: recorded without a time
  EXPECT_TRUE(describes_as(ancient, untimed));
}

namespace {

// Folders of every shape the serializer writes: solid with CRCs per file, a
// one-file LZMA2 folder with a folder CRC, Copy, and BCJ2's graph (its four
// inputs fed by three LZMA coders and a pack stream: three bind pairs, four
// pack streams); names in ASCII, two- and
// four-byte UTF-8; every kind of time; empty files and a directory.
archive_database varied_database() {
  archive_database db = three_files_in_one_folder();
  db.folders.push_back(make_folder({kMethodLzma2, {0x18}}, 300'000'000'000, 0xabcdef01u));
  db.folders.push_back(make_folder({kMethodCopy, {}}, 70'000));
  folder_graph bcj2;
  bcj2.coders = {{{0x03, 0x03, 0x01, 0x1b}, {}, 4, 1},
                 {kMethodLzma, {0x5d, 0, 0, 0, 1}},
                 {kMethodLzma, {0x5d, 0, 0, 1, 0}},
                 {kMethodLzma, {0x5d, 0, 0, 1, 0}}};
  bcj2.bind_pairs = {{0, 1}, {1, 2}, {2, 3}};
  bcj2.packed_streams = {4, 5, 6, 3};
  db.folders.emplace_back(bcj2, small_vector<std::uint64_t, 1>{1'000'000, 900'000, 50'000, 40'000});
  db.pack_sizes = {24, 123'456'789, 70'000, 400'000, 30'000, 20'000, 5'000};
  db.substream_counts = {3, 1, 1, 1};
  db.substream_sizes = {6, 8, 6, 300'000'000'000, 70'000, 1'000'000};
  db.substream_crcs = {0x11111111u, 0x22222222u, 0x33333333u, std::nullopt, 0x44444444u, std::nullopt};
  const std::vector<std::string> names{"a.txt", "dir/b.txt", "c", "gro\xc3\x9f.bin", "\xf0\x9f\x98\x80/e", "f.exe"};
  for (const auto& name : names) {
    file_info file;
    file.name = name;
    file.has_stream = true;
    file.mtime = 0x01d0000000000000;
    file.attributes = attributes_from_mode(S_IFREG | 0644);
    db.files.push_back(file);
  }
  db.files[1].ctime = 1;
  db.files[2].atime = 2;
  file_info directory;
  directory.name = "dir";
  directory.is_directory = true;
  db.files.push_back(directory);
  file_info empty;
  empty.name = "dir/empty";
  db.files.push_back(empty);
  return db;
}

}  // namespace

TEST(HeaderSerializer, IsReservedAtASizeBoundSoItNeverGrowsByCopying) {
  const auto db = varied_database();
  const auto header = serialize_header(db);
  EXPECT_GE(header_size_bound(db), header.size());
  EXPECT_EQ(header.capacity(), header_size_bound(db)) << "reserved once, never grown";

  // Many files in folders of their own, long names: the slack stays small.
  archive_database many;
  for (int i = 0; i < 10'000; ++i) {
    many.pack_sizes.push_back(100 + static_cast<std::uint64_t>(i));
    many.folders.push_back(make_folder({kMethodLzma2, {0x10}}, 1000 + static_cast<std::uint64_t>(i)));
    many.substream_counts.push_back(1);
    many.substream_sizes.push_back(1000 + static_cast<std::uint64_t>(i));
    many.substream_crcs.emplace_back(static_cast<std::uint32_t>(i));
    file_info file;
    file.name = "cache/p00/q" + std::to_string(i % 100) + "/0123456789abcdef" + std::to_string(i) + ".json";
    file.has_stream = true;
    file.mtime = 0x01d0000000000000 + static_cast<std::uint64_t>(i);
    file.attributes = attributes_from_mode(S_IFREG | 0644);
    many.files.push_back(file);
  }
  const auto big = serialize_header(many);
  EXPECT_GE(header_size_bound(many), big.size());
  EXPECT_LE(header_size_bound(many), 2 * big.size());
  EXPECT_EQ(big.capacity(), header_size_bound(many));

  // One solid folder, every file with long names and all four kinds of
  // value, a few empty: per file the bound has little slack, so a term it
  // left out (names at one byte per UTF-8 byte, a time) would fall short.
  archive_database dense;
  dense.pack_sizes = {1'000'000};
  dense.folders.push_back(make_folder({kMethodLzma2, {0x18}}, 0));
  dense.substream_counts = {0};
  for (int i = 0; i < 10'000; ++i) {
    file_info file;
    file.name = "blobs/" + std::string(50, static_cast<char>('a' + i % 26)) + std::to_string(i);
    file.has_stream = i % 100 != 0;
    file.mtime = 0x01d0000000000000 + static_cast<std::uint64_t>(i);
    file.ctime = 0x01c0000000000000 + static_cast<std::uint64_t>(i);
    file.atime = 0x01e0000000000000 + static_cast<std::uint64_t>(i);
    file.attributes = attributes_from_mode(S_IFREG | 0644);
    if (file.has_stream) {
      ++dense.substream_counts[0];
      dense.substream_sizes.push_back(100'000 + static_cast<std::uint64_t>(i));
      dense.substream_crcs.emplace_back(static_cast<std::uint32_t>(i));
    }
    dense.files.push_back(file);
  }
  dense.folders[0].unpack_sizes[0] = 0;
  for (auto size : dense.substream_sizes) dense.folders[0].unpack_sizes[0] += size;
  const auto plain = serialize_header(dense);
  EXPECT_GE(header_size_bound(dense), plain.size());
  EXPECT_LE(header_size_bound(dense), plain.size() + plain.size() / 5);
  EXPECT_EQ(plain.capacity(), header_size_bound(dense));
}
