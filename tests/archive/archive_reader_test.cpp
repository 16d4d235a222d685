#include "archive/archive_reader.hpp"

#include "archive/archive_error.hpp"
#include "archive/file_attributes.hpp"
#include "archive/archive_writer.hpp"
#include "archive/byte_reader.hpp"
#include "archive/file_io.hpp"
#include "archive/files_info_parser.hpp"
#include "archive/crc32.hpp"
#include "archive/header_serializer.hpp"
#include "test_support.hpp"
#include "tools/fixture_tree.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

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
// `header` (by default the parsed database serialized as a plain header:
// what an append does with the old part of an archive).
void rewrite_with_header(const fs::path& source, const fs::path& target, std::vector<std::uint8_t> header = {}) {
  const auto layout = read_archive(source.string());
  std::string bytes = read_file(source);
  std::string packs = bytes.substr(32, layout.packs_end - 32);
  if (header.empty()) header = serialize_header(layout.db);
  const auto start = make_start_header(packs.size(), header.size(), crc32::of(header));
  std::ofstream out(target, std::ios::binary);
  out.write(reinterpret_cast<const char*>(start.data()), 32);
  out << packs;
  out.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
}

void rewrite_with_parsed_header(const fs::path& source, const fs::path& target) { rewrite_with_header(source, target); }

// The plain header of `db` without its kName property, as `7zz a -si` writes.
std::vector<std::uint8_t> header_without_names(const archive_database& db) {
  byte_writer out;
  out.byte(property_id::kHeader);
  out.byte(property_id::kMainStreamsInfo);
  write_streams_info(out, db);
  byte_writer files;
  write_files_info(files, db.files);
  byte_reader in(files.data(), "");
  out.byte(in.byte());      // kFilesInfo
  out.number(in.number());  // the number of files
  for (auto id = in.byte(); id != property_id::kEnd; id = in.byte()) {
    const auto size = in.number();
    const auto payload = in.bytes(size);
    if (id == property_id::kName) continue;
    out.byte(id);
    out.number(size);
    out.bytes(payload);
  }
  out.byte(property_id::kEnd);
  out.byte(property_id::kEnd);
  return out.take();
}

// The Path values `7zz l -slt` lists for the entries of `archive`.
std::vector<std::string> seven_zip_paths(const fs::path& archive) {
  const auto listed = run("7zz l -slt " + quote(archive.string()));
  std::vector<std::string> paths;
  std::istringstream lines(listed.output);
  bool entries = false;
  for (std::string line; std::getline(lines, line);) {
    if (line == "----------") entries = true;
    if (entries && line.starts_with("Path = ")) paths.push_back(line.substr(7));
  }
  return paths;
}

std::string slt_lines(const fs::path& archive, const std::string& prefix) {
  const auto listed = run("7zz l -slt " + quote(archive.string()));
  std::istringstream lines(listed.output);
  std::string found;
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(prefix)) found += line + "\n";
  }
  return found;
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

TEST(ArchiveReader, NamelessArchiveFromStandardInput) {
  temp_dir dir;
  const auto path = dir / "x.7z";
  ASSERT_EQ(run("echo hi | 7zz a -si " + quote(path.string())).exit_code, 0);
  const auto layout = read_archive(path.string());
  ASSERT_EQ(layout.db.files.size(), 1u);
  EXPECT_EQ(layout.db.files[0].name, "x");
  EXPECT_TRUE(layout.db.files[0].has_stream);
  EXPECT_EQ(layout.db.substream_sizes, std::vector<std::uint64_t>{3});
  // Written back, the name is stored and 7zz extracts what it extracted before.
  rewrite_with_parsed_header(path, dir / "named.7z");
  ASSERT_EQ(run("7zz x -o" + quote((dir / "out").string()) + " " + quote((dir / "named.7z").string())).exit_code, 0);
  EXPECT_EQ(read_file(dir / "out" / "x"), "hi\n");
}

TEST(ArchiveReader, NamelessAndEmptyNamedEntriesAreNamedAsSevenZipNamesThem) {
  temp_dir dir;
  const auto source = dir / "source.7z";
  write_archive(source.string(),
                std::vector<entry>{{"d", entry_kind::directory, 0755, {1'600'000'000, 0}, 0, nullptr},
                                   text_file("e", ""),
                                   text_file("a.txt", "alpha"),
                                   text_file("b.txt", "beta")},
                {});
  const auto db = read_archive(source.string()).db;
  auto empty_names = db;
  empty_names.files[1].name.clear();  // the empty file
  empty_names.files[0].name.clear();  // the directory
  for (const std::string name :
       {"x.7z", "my.archive.tar.7z", "noext", ".7z", "sp ace .7z", "a.7Z", "foo.zip", ".hidden", "x.tar.gz"}) {
    SCOPED_TRACE(name);
    const auto nameless = dir / name;
    rewrite_with_header(source, nameless, header_without_names(db));
    const auto layout = read_archive(nameless.string());
    std::vector<std::string> names;
    for (const auto& f : layout.db.files) names.push_back(f.name);
    EXPECT_EQ(names, seven_zip_paths(nameless));
    const std::string expected = default_item_name(nameless.string());
    EXPECT_EQ(names, (std::vector<std::string>{"", expected, expected, expected}));

    rewrite_with_header(source, nameless, serialize_header(empty_names));
    names.clear();
    for (const auto& f : read_archive(nameless.string()).db.files) names.push_back(f.name);
    EXPECT_EQ(names, seven_zip_paths(nameless));
  }
}

TEST(ArchiveReader, KeepsCreationAndAccessTimes) {
  temp_dir dir;
  make_fixture_tree(dir / "src", {.non_bmp_names = false});
  const auto made = dir / "times.7z";
  ASSERT_EQ(run("cd " + quote(dir.path().string()) + " && 7zz a -snl -mtc=on -mta=on " + quote(made.string()) + " src")
                .exit_code,
            0);
  const auto layout = read_archive(made.string());
  EXPECT_TRUE(std::ranges::all_of(layout.db.files, [](const file_info& f) { return f.ctime && f.atime; }));
  const auto rewritten = dir / "rewritten.7z";
  rewrite_with_parsed_header(made, rewritten);
  for (const std::string field : {"Created = ", "Accessed = ", "Modified = ", "Attributes = "}) {
    SCOPED_TRACE(field);
    const auto before = slt_lines(made, field);
    EXPECT_GT(before.size(), 150u * field.size());
    EXPECT_EQ(slt_lines(rewritten, field), before);
  }
}

TEST(ArchiveReader, ReadsFromADescriptorAndLeavesItsOffsetAlone) {
  temp_dir dir;
  const auto path = (dir / "a.7z").string();
  write_archive(path, std::vector<entry>{text_file("a", "some text"), text_file("b", "more text")}, {});
  const unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd);
  ASSERT_EQ(::lseek(fd.get(), 7, SEEK_SET), 7);
  const auto by_fd = read_archive(fd.get(), path);
  EXPECT_EQ(::lseek(fd.get(), 0, SEEK_CUR), 7);
  const auto by_path = read_archive(path);
  EXPECT_EQ(serialize_header(by_fd.db), serialize_header(by_path.db));
  EXPECT_EQ(by_fd.header_offset, by_path.header_offset);
  EXPECT_EQ(by_fd.header_start, by_path.header_start);
}

TEST(ArchiveReader, RefusesWhatIsNotARegularFileWithoutOpeningIt) {
  temp_dir dir;
  const auto fifo = dir / "fifo.7z";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto refused = [](const std::string& path, int errnum, const std::string& says) {
    try {
      read_archive(path);
      ADD_FAILURE() << path << " was accepted";
    } catch (const archive_error& e) {
      EXPECT_EQ(e.kind(), error_kind::invalid_input) << e.what();
      EXPECT_EQ(e.error_number(), errnum) << e.what();
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  refused(fifo.string(), EINVAL, "a FIFO");  // would block forever if opened
  refused(dir.path().string(), EISDIR, "a directory");
  refused("/dev/null", EINVAL, "a character device");
  const unique_fd directory(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  EXPECT_THROW(read_archive(directory.get(), dir.path().string()), archive_error);
}

TEST(ArchiveReader, DeadBytesAreWhatNoHeaderReferences) {
  temp_dir dir;
  const auto by7zz = dir / "by7zz.7z";
  make_fixture_tree(dir / "src", {.non_bmp_names = false});
  ASSERT_EQ(run("cd " + quote(dir.path().string()) + " && 7zz a -snl " + quote(by7zz.string()) + " src").exit_code, 0);
  const auto layout = read_archive(by7zz.string());
  ASSERT_LT(layout.header_start, layout.header_offset);  // 7-Zip compresses its header
  EXPECT_EQ(dead_ranges(layout), std::vector<byte_range>{});

  // Bytes after the header, and a gap between the packs and the header.
  const auto padded = dir / "padded.7z";
  std::string bytes = read_file(by7zz);
  write_file(padded, bytes + std::string(100, 'z'));
  EXPECT_EQ(dead_ranges(read_archive(padded.string())), (std::vector<byte_range>{{layout.file_size, 100}}));
  const auto packs = bytes.substr(32, layout.packs_end - 32);
  const auto header = serialize_header(layout.db);
  const auto start = make_start_header(packs.size() + 10, header.size(), crc32::of(header));
  write_file(padded, std::string(start.begin(), start.end()) + packs + std::string(10, 'g') +
                         std::string(header.begin(), header.end()));
  EXPECT_EQ(dead_ranges(read_archive(padded.string())), (std::vector<byte_range>{{layout.packs_end, 10}}));
  EXPECT_EQ(dead_bytes(read_archive(padded.string())), 10u);
}
