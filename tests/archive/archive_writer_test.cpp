#include "archive/archive_writer.hpp"

#include "archive/archive_checks.hpp"
#include "archive/archive_error.hpp"
#include "archive/lzma2_chunks.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <random>
#include <span>

using namespace sevenzfs::archive;
using sevenzfs::test::quote;
using sevenzfs::test::read_file;
using sevenzfs::test::run;
using sevenzfs::test::temp_dir;

namespace {

entry text_file(std::string path, std::string_view text) {
  entry e;
  e.path = std::move(path);
  e.mode = 0644;
  e.size = text.size();
  e.content = std::make_shared<memory_content>(text);
  return e;
}

// Delivers part of its bytes, then fails like a disk read error.
class failing_content final : public entry_content {
 public:
  void visit(const span_sink& sink) const override {
    const std::uint8_t bytes[4] = {1, 2, 3, 4};
    sink(bytes);
    throw archive_error(error_kind::io, "/src/broken", "cannot read file: Input/output error");
  }
};

// Claims more bytes than it delivers, like a file truncated while packing.
entry shrinking_file() {
  entry e = text_file("shrinks", "short");
  e.size = 100;
  return e;
}

std::size_t files_in(const std::filesystem::path& dir) {
  return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(dir), {}));
}

}  // namespace

TEST(ArchiveWriter, EmptyArchiveIsExactlyTheStartHeader) {
  temp_dir dir;
  const auto path = (dir / "empty.7z").string();
  const auto summary = write_archive(path, {}, {});
  EXPECT_EQ(summary.archive_bytes, 32u);
  const std::string bytes = read_file(path);
  ASSERT_EQ(bytes.size(), 32u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("7z\xbc\xaf\x27\x1c\x00\x04", 8));
  EXPECT_EQ(bytes.substr(12), std::string(20, '\0'));
  EXPECT_EQ(run("7zz t " + quote(path)).exit_code, 0);
}

TEST(ArchiveWriter, FailedReadLeavesNothingAndKeepsTheOldArchive) {
  temp_dir dir;
  const auto path = (dir / "out.7z").string();
  sevenzfs::test::write_file(path, "previous archive");
  std::vector<entry> entries{text_file("a", "alpha"), text_file("broken", "")};
  entries[1].size = 4;
  entries[1].content = std::make_shared<failing_content>();
  for (unsigned threads : {1u, 2u}) {
    write_options options;
    options.compression.threads = threads;
    try {
      write_archive(path, entries, options);
      FAIL() << "expected an error";
    } catch (const archive_error& e) {
      EXPECT_EQ(e.kind(), error_kind::io);
      // The error names the file on disk; the archive path it ends with is
      // not repeated.
      EXPECT_STREQ(e.what(), "/src/broken: cannot read file: Input/output error");
    }
    EXPECT_EQ(read_file(path), "previous archive");
    EXPECT_EQ(files_in(dir.path()), 1u) << "a temporary file was left behind";
  }
}

TEST(ArchiveWriter, SizeChangeWhileArchivingIsAnError) {
  temp_dir dir;
  const auto path = (dir / "out.7z").string();
  for (int level : {0, 5}) {
    write_options options;
    options.compression.level = level;
    EXPECT_THROW(write_archive(path, std::vector<entry>{shrinking_file()}, options), archive_error);
    EXPECT_EQ(files_in(dir.path()), 0u);
  }
}

TEST(ArchiveWriter, InvalidNamesAreRefusedBeforeWriting) {
  temp_dir dir;
  const auto path = (dir / "out.7z").string();
  for (const char* name : {"", "/abs", "a//b", "a/./b", "../up", "bad\xff", "trailing/"}) {
    try {
      write_archive(path, std::vector<entry>{text_file(name, "x")}, {});
      FAIL() << "accepted " << name;
    } catch (const archive_error& e) {
      EXPECT_EQ(e.kind(), error_kind::invalid_name) << name;
    }
  }
  EXPECT_EQ(files_in(dir.path()), 0u);
}

TEST(ArchiveWriter, UnwritableDirectoryIsAnIoErrorNamingIt) {
  try {
    write_archive("/nonexistent-dir-for-sevenzfs/out.7z", std::vector<entry>{text_file("a", "x")}, {});
    FAIL() << "expected an error";
  } catch (const archive_error& e) {
    EXPECT_EQ(e.kind(), error_kind::io);
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir-for-sevenzfs"), std::string::npos);
  }
}

TEST(ArchiveWriter, IncompressibleFolderIsStoredWithCopyCoder) {
  temp_dir dir;
  const auto path = (dir / "out.7z").string();
  std::string noise(50000, '\0');
  std::uint32_t state = 12345;
  for (auto& c : noise) {
    state = state * 1103515245 + 12345;
    c = static_cast<char>(state >> 24);
  }
  for (unsigned threads : {1u, 2u}) {
    write_options options;
    options.compression.threads = threads;
    options.plan.mode = pack_mode::batched;
    write_archive(path, std::vector<entry>{text_file("noise", noise), text_file("text", std::string(5000, 'a'))},
                  options);
    const auto listing = run("7zz l -slt " + quote(path));
    EXPECT_NE(listing.output.find("Method = Copy"), std::string::npos) << listing.output;
    EXPECT_NE(listing.output.find("Method = LZMA2"), std::string::npos) << listing.output;
    EXPECT_EQ(run("7zz t " + quote(path)).exit_code, 0);
  }
}

TEST(ArchiveWriter, IncompressibleFilesAreGivenUpEarlyAndReadEverywhere) {
  // 3 MiB of bytes from 224 values, which liblzma shrinks by about 1 %, less
  // than the probe asks for: one folder of one part (one thread, or two
  // threads with whole-file parts) is stored, where compressed whole it
  // would have shrunk a little and stayed LZMA2; cut into 1 MiB parts, each
  // part's rest after its probe is LZMA2 uncompressed chunks (counted in
  // parallel_encoder_test), which every reader must decode. Text beside it
  // compresses.
  temp_dir dir;
  const auto path = dir / "out.7z";
  std::string noise(3 << 20, '\0');
  std::mt19937 rng(99);
  for (auto& c : noise) c = static_cast<char>(rng() % 224);
  std::string text;
  for (std::uint64_t i = 0; text.size() < (2u << 20); ++i) text += "row " + std::to_string(i * 7919 % 100003) + "\n";
  sevenzfs::test::expected_tree tree{{{"noise.bin", noise}, {"text.txt", text}}, {}};
  for (const auto& [threads, longest_part] : {std::pair{1u, 0ull}, {2u, 0ull}, {2u, 1ull << 20}}) {
    SCOPED_TRACE(testing::Message() << threads << " threads, parts of " << longest_part);
    write_options options;
    options.compression.threads = threads;
    options.compression.max_part_bytes = longest_part;
    options.plan.mode = pack_mode::batched;
    write_archive(path.string(), std::vector<entry>{text_file("noise.bin", noise), text_file("text.txt", text)},
                  options);
    const auto listing = run("7zz l -slt " + quote(path.string()));
    EXPECT_EQ(listing.output.find("Method = Copy") != std::string::npos, longest_part == 0) << listing.output;
    EXPECT_LT(std::filesystem::file_size(path), noise.size() + noise.size() / 1000 + text.size() / 4);
    sevenzfs::test::expect_readers_agree(path, tree);
  }
}

TEST(ArchiveWriter, ParallelPartsMakeOneValidFolder) {
  // Level 1, two threads: 3.5 MiB of input is four dictionary-primed parts.
  temp_dir dir;
  const auto path = (dir / "out.7z").string();
  std::string text;
  for (std::uint64_t i = 0; text.size() < (7u << 19); ++i) text += "line " + std::to_string(i * 7919 % 100003) + "\n";
  write_options options;
  options.compression.level = 1;
  options.compression.threads = 2;
  options.plan.mode = pack_mode::solid;
  const auto summary =
      write_archive(path, std::vector<entry>{text_file("a.txt", text), text_file("b.txt", "tail")}, options);
  EXPECT_EQ(summary.folders, 1u);
  const auto test = run("7zz t " + quote(path));
  EXPECT_EQ(test.exit_code, 0) << test.output;
  sevenzfs::test::write_file(dir / "a.txt", text);
  EXPECT_EQ(run("bsdtar -xOf " + quote(path) + " a.txt | cmp - " + quote((dir / "a.txt").string())).exit_code, 0);
}

TEST(ArchiveWriter, AHeaderCompressedOnTwoThreadsReadsInEveryReader) {
  // 100,000 empty files: a header of 4.7 MB, two primed parts, and no data.
  temp_dir dir;
  const auto path = (dir / "many.7z").string();
  std::vector<entry> entries;
  for (int i = 0; i < 100'000; ++i)
    entries.push_back(text_file(fmt::format("d/{:08}.empty", i * 7919 % 1'000'003), ""));
  write_options options;
  options.compression.level = 5;
  options.compression.threads = 2;
  write_archive(path, entries, options);

  const auto layout = read_archive(path);
  EXPECT_EQ(layout.db.files.size(), entries.size());
  const std::string file = read_file(path);
  const std::string packed = file.substr(layout.header_start, layout.header_offset - layout.header_start);
  const auto chunks =
      sevenzfs::test::read_lzma2_chunks(std::span(reinterpret_cast<const std::uint8_t*>(packed.data()), packed.size()));
  EXPECT_EQ(chunks.property_chunks, 2u) << "the header was compressed in two parts";
  EXPECT_EQ(chunks.dictionary_resets, 1u);

  const auto tested = run("7zz t " + quote(path));
  EXPECT_EQ(tested.exit_code, 0) << tested.output;
  EXPECT_EQ(run("bsdtar -tf " + quote(path) + " | grep -c '\\.empty$'").output, "100000\n");
  EXPECT_EQ(run("/usr/bin/python3 -c 'import py7zr,sys; print(len(py7zr.SevenZipFile(sys.argv[1]).getnames()))' " +
                quote(path))
                .output,
            "100000\n");
}
