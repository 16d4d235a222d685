// Solid folders compressed in dictionary-primed parts, judged by real readers:
// 7zz t, 7zz x and bsdtar -x compared with the input, and py7zr. Files have
// random sizes, so part boundaries fall inside files; some are incompressible.
#include "archive/folder_packer.hpp"

#include "archive/archive_error.hpp"
#include "archive/archive_writer.hpp"
#include "archive/crc32.hpp"
#include "archive/lzma2_chunks.hpp"
#include "archive/header_serializer.hpp"
#include "archive/lzma_settings.hpp"
#include "archive/output_file.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <numeric>
#include <random>

using namespace sevenzfs::archive;
using namespace sevenzfs::test;

namespace {

struct source_file {
  std::string name;
  std::string bytes;
};

// Log lines from one shared vocabulary (redundant across files, so what a
// part's encoder sees of the input before it matters), and a few files of
// noise.
std::vector<source_file> make_files(std::size_t text_files, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> vocabulary;
  for (int i = 0; i < 400; ++i) {
    std::string word;
    for (auto n = 3 + rng() % 9; n > 0; --n) word += static_cast<char>('a' + rng() % 26);
    vocabulary.push_back(word);
  }
  std::vector<source_file> files;
  for (std::size_t i = 0; i < text_files; ++i) {
    const auto size = static_cast<std::size_t>(std::exponential_distribution<double>(1.0 / 80000)(rng)) + 1;
    std::string text;
    while (text.size() < size) text += vocabulary[rng() % vocabulary.size()] + (rng() % 8 == 0 ? "\n" : " ");
    text.resize(size);
    files.push_back({"logs/" + std::to_string(i) + ".log", std::move(text)});
  }
  for (int i = 0; i < 2; ++i) {
    std::string noise(300000 + rng() % 100000, '\0');
    for (auto& c : noise) c = static_cast<char>(rng());
    files.push_back({"noise/" + std::to_string(i) + ".bin", std::move(noise)});
  }
  return files;
}

// `count` files of `size` random bytes, blobs/0.bin on.
std::vector<source_file> random_files(int count, std::size_t size, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<source_file> files;
  for (int i = 0; i < count; ++i) {
    std::string bytes(size, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    files.push_back({"blobs/" + std::to_string(i) + ".bin", std::move(bytes)});
  }
  return files;
}

std::vector<entry> entries_of(const std::vector<source_file>& files) {
  std::vector<entry> entries;
  for (const auto& file : files) {
    entry e;
    e.path = file.name;
    e.mode = 0644;
    e.mtime = {1700000000, 0};
    e.size = file.bytes.size();
    e.content = std::make_shared<memory_content>(file.bytes);
    entries.push_back(std::move(e));
  }
  return entries;
}

std::string differences(const std::vector<source_file>& files, const std::filesystem::path& root) {
  std::string found;
  for (const auto& file : files) {
    const auto path = root / file.name;
    if (!std::filesystem::exists(path)) {
      found += file.name + " missing\n";
    } else if (read_file(path) != file.bytes) {
      found += file.name + " differs\n";
    }
  }
  return found;
}

struct primed_case {
  int level;
  unsigned threads;
  std::uint64_t max_part_bytes;
};

[[maybe_unused]] void PrintTo(const primed_case& c, std::ostream* os) {
  *os << "level " << c.level << " threads " << c.threads << " max part " << c.max_part_bytes;
}

std::string case_name(const testing::TestParamInfo<primed_case>& info) {
  return "level" + std::to_string(info.param.level) + "_threads" + std::to_string(info.param.threads) + "_part" +
         std::to_string(info.param.max_part_bytes >> 10) + "k";
}

class PrimedFolder : public testing::TestWithParam<primed_case> {};

}  // namespace

TEST_P(PrimedFolder, ReadersRestoreEveryFile) {
  const auto [level, threads, max_part] = GetParam();
  temp_dir dir;
  const auto files = make_files(40, static_cast<std::uint32_t>(level * 100 + threads));
  const auto entries = entries_of(files);
  std::uint64_t input_bytes = 0;
  for (const auto& file : files) input_bytes += file.bytes.size();
  const auto path = dir / "out.7z";
  write_options options;
  options.plan.mode = pack_mode::solid;
  options.compression.level = level;
  options.compression.threads = threads;
  options.compression.max_part_bytes = max_part;
  std::uint64_t progress = 0;
  options.compression.progress = [&](std::uint64_t bytes) { progress += bytes; };
  const auto summary = write_archive(path.string(), entries, options);
  ASSERT_EQ(summary.folders, 1u);
  EXPECT_EQ(progress, input_bytes);

  // The one pack stream follows the 32-byte start header: several parts (each
  // sets the properties once), one dictionary reset, one end marker.
  const std::string archive = read_file(path);
  const auto stream = std::span(reinterpret_cast<const std::uint8_t*>(archive.data()) + 32, summary.packed_bytes);
  const auto chunks = read_lzma2_chunks(stream);
  ASSERT_EQ(chunks.error, "");
  EXPECT_EQ(chunks.dictionary_resets, 1u);
  EXPECT_GE(chunks.property_chunks, 2u) << "the folder must be several parts";
  EXPECT_TRUE(chunks.ends_at_end_marker);

  const auto tested = run("7zz t " + quote(path.string()));
  ASSERT_EQ(tested.exit_code, 0) << tested.output;
  EXPECT_NE(tested.output.find("Everything is Ok"), std::string::npos) << tested.output;

  const auto extracted = run("7zz x -o" + quote((dir / "by7zz").string()) + " " + quote(path.string()));
  ASSERT_EQ(extracted.exit_code, 0) << extracted.output;
  EXPECT_EQ(differences(files, dir / "by7zz"), "");

  std::filesystem::create_directories(dir / "bybsdtar");
  const auto untarred = run("bsdtar -xf " + quote(path.string()) + " -C " + quote((dir / "bybsdtar").string()));
  ASSERT_EQ(untarred.exit_code, 0) << untarred.output;
  EXPECT_EQ(differences(files, dir / "bybsdtar"), "");

  const std::string script =
      "import py7zr, sys, zlib\n"
      "with py7zr.SevenZipFile(sys.argv[1]) as a:\n"
      "    bad = a.testzip()\n"
      "    if bad is not None: sys.exit('testzip failed: %s' % bad)\n"
      "with py7zr.SevenZipFile(sys.argv[1]) as a:\n"
      "    for name, data in sorted(a.readall().items()):\n"
      "        print('%08x %s' % (zlib.crc32(data.read()), name))\n";
  const auto listed = run("/usr/bin/python3 -c " + quote(script) + " " + quote(path.string()));
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  std::map<std::string, std::string> expected;
  for (const auto& file : files) {
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", crc32::of(bytes_of(file.bytes)));
    expected[file.name] = hex;
  }
  std::string want;
  for (const auto& [name, crc] : expected) want += crc + " " + name + "\n";
  EXPECT_EQ(listed.output, want);
}

// Level 1 (256 KiB dictionary) splits a few MiB by itself; levels 5 and 9 take
// a dictionary that covers the folder, so their parts here are shorter than
// it (primed with several earlier parts).
INSTANTIATE_TEST_SUITE_P(Parts, PrimedFolder,
                         testing::Values(primed_case{1, 2, 0}, primed_case{1, 8, 0}, primed_case{5, 2, 1 << 20},
                                         primed_case{9, 2, 1 << 20}, primed_case{5, 3, 512 << 10},
                                         primed_case{1, 4, 64 << 10}),
                         case_name);

// Random files in a solid folder: parts of several of them are judged
// incompressible before any encoder sees them and written as uncompressed
// chunks (one dictionary reset, the folder's first), a part holding a copy
// of an earlier file is compressed (primed: the copy is found), and every
// reader restores them. A folder of one part of them is stored. (liblzma
// would write such parts as uncompressed chunks too, after compressing
// them: the streams look alike, the CPU differs; the daemon's counts of
// given-up parts show the judgement, see pending_folders_test.)
TEST(FolderPacker, RandomFilesInASolidFolderNeedNoEncoderAndReadersRestoreThem) {
  temp_dir dir;
  auto files = random_files(40, 60'000, 77);
  files.push_back({"blobs/copy.bin", files[2].bytes});
  std::uint64_t input_bytes = 0;
  for (const auto& file : files) input_bytes += file.bytes.size();
  const auto path = dir / "out.7z";
  write_options options;
  options.plan.mode = pack_mode::solid;
  options.compression.level = 3;  // a dictionary of 4 MiB: the whole input
  options.compression.threads = 2;
  options.compression.max_part_bytes = 512 << 10;
  const auto summary = write_archive(path.string(), entries_of(files), options);
  ASSERT_EQ(summary.folders, 1u);
  EXPECT_LT(summary.packed_bytes, input_bytes - 50'000) << "the copy was not found";
  const std::string archive = read_file(path);
  const auto chunks =
      read_lzma2_chunks(std::span(reinterpret_cast<const std::uint8_t*>(archive.data()) + 32, summary.packed_bytes));
  ASSERT_EQ(chunks.error, "");
  EXPECT_EQ(chunks.dictionary_resets, 1u);
  EXPECT_TRUE(chunks.ends_at_end_marker);
  EXPECT_EQ(run("7zz t " + quote(path.string())).exit_code, 0);
  std::filesystem::create_directories(dir / "bybsdtar");
  ASSERT_EQ(run("bsdtar -xf " + quote(path.string()) + " -C " + quote((dir / "bybsdtar").string())).exit_code, 0);
  EXPECT_EQ(differences(files, dir / "bybsdtar"), "");
  ASSERT_EQ(run("7zz x -o" + quote((dir / "by7zz").string()) + " " + quote(path.string())).exit_code, 0);
  EXPECT_EQ(differences(files, dir / "by7zz"), "");
  EXPECT_EQ(run("/usr/bin/python3 -c 'import py7zr,sys; print(py7zr.SevenZipFile(sys.argv[1]).testzip())' " +
                quote(path.string()))
                .output,
            "None\n");

  files.resize(5);
  write_archive(path.string(), entries_of(files), options);
  EXPECT_NE(run("7zz l -slt " + quote(path.string())).output.find("Method = Copy"), std::string::npos);
  EXPECT_EQ(run("7zz t " + quote(path.string())).exit_code, 0);
}

// With one thread a solid folder is judged before its encoder starts, as a
// parallel part is: random files are stored without the match finder
// passing over them; random files with a copy among them, and text, are
// compressed. Every reader restores the stored folder.
TEST(FolderPacker, OneThreadStoresASolidFolderOfRandomFilesWithoutAnEncoder) {
  temp_dir dir;
  const auto noise = random_files(20, 40'000, 78);
  auto with_copy = noise;
  with_copy.push_back({"blobs/copy.bin", noise[3].bytes});
  const auto text = make_files(6, 5);
  struct packed {
    std::uint64_t given_up;
    std::string method;
  };
  const auto pack_alone = [&](const std::vector<source_file>& files, const std::string& name) {
    const auto entries = entries_of(files);
    std::vector<std::size_t> all(entries.size());
    std::iota(all.begin(), all.end(), 0);
    const auto path = dir / name;
    output_file out(path.string());
    out.set_position(kStartHeaderSize);
    archive_database db;
    compression_options compression;
    compression.level = 5;
    compression.threads = 1;
    folder_packer packer(out, db, compression);
    folder_plan folder{all, 0};
    for (const auto& e : entries) folder.unpack_size += e.size;
    packer.pack(entries, {folder});
    EXPECT_EQ(db.folders.size(), 1u);
    const bool stored = !db.folders.empty() && db.folders[0].coders().at(0).method_id == kMethodCopy;
    return packed{packer.given_up_folders(), stored ? "Copy" : "LZMA2"};
  };
  const auto random_files = pack_alone(noise, "noise.7z");
  EXPECT_EQ(random_files.given_up, 1u);
  EXPECT_EQ(random_files.method, "Copy");
  const auto repeated = pack_alone(with_copy, "copy.7z");
  EXPECT_EQ(repeated.given_up, 0u);
  EXPECT_EQ(repeated.method, "LZMA2") << "the copy was not found";
  const auto text_files = pack_alone(text, "text.7z");
  EXPECT_EQ(text_files.given_up, 0u);
  EXPECT_EQ(text_files.method, "LZMA2");

  write_options options;
  options.plan.mode = pack_mode::solid;
  options.compression.threads = 1;
  const auto path = dir / "out.7z";
  const auto summary = write_archive(path.string(), entries_of(noise), options);
  ASSERT_EQ(summary.folders, 1u);
  EXPECT_NE(run("7zz l -slt " + quote(path.string())).output.find("Method = Copy"), std::string::npos);
  EXPECT_EQ(run("7zz t " + quote(path.string())).exit_code, 0);
  ASSERT_EQ(run("7zz x -o" + quote((dir / "by7zz").string()) + " " + quote(path.string())).exit_code, 0);
  EXPECT_EQ(differences(noise, dir / "by7zz"), "");
}

namespace {

// Delivers its bytes in 64 KiB pieces and counts what it delivered.
class counted_content final : public entry_content {
 public:
  explicit counted_content(std::string bytes) : bytes_(std::move(bytes)) {}
  void visit(const span_sink& sink) const override {
    const auto* data = reinterpret_cast<const std::uint8_t*>(bytes_.data());
    for (std::size_t at = 0; at < bytes_.size(); at += kPiece) {
      const std::size_t n = std::min(kPiece, bytes_.size() - at);
      delivered += n;
      sink(std::span(data + at, n));
    }
  }
  mutable std::uint64_t delivered = 0;

 private:
  static constexpr std::size_t kPiece = 64 << 10;
  std::string bytes_;
};

}  // namespace

// Judging a solid folder before its encoder starts (one thread) reads text
// no further than its first window: a large first file is not read twice.
TEST(FolderPacker, JudgingASolidFolderOfTextReadsOnlyItsStart) {
  temp_dir dir;
  auto files = make_files(3, 12);
  std::string large;
  while (large.size() < (4u << 20)) large += files[0].bytes;
  files.insert(files.begin(), source_file{"large.log", large});
  auto entries = entries_of(files);
  const auto first = std::make_shared<counted_content>(large);
  entries[0].content = first;
  write_options options;
  options.plan.mode = pack_mode::solid;
  options.compression.threads = 1;
  options.compression.level = 1;
  write_archive((dir / "out.7z").string(), entries, options);
  EXPECT_GE(first->delivered, large.size());
  EXPECT_LE(first->delivered, large.size() + (64 << 10)) << "judged beyond the first piece";
  EXPECT_EQ(run("7zz t " + quote((dir / "out.7z").string())).exit_code, 0);
}

TEST(FolderPacker, SizeChangeInAMultiPartFolderIsAnError) {
  temp_dir dir;
  auto files = make_files(30, 7);
  auto entries = entries_of(files);
  entries[20].size += 10;  // declared larger than it is: its content ends early
  for (unsigned threads : {1u, 2u}) {
    write_options options;
    options.compression.level = 1;
    options.compression.threads = threads;
    options.compression.max_part_bytes = 256 << 10;
    try {
      write_archive((dir / "out.7z").string(), entries, options);
      FAIL() << "expected an error";
    } catch (const archive_error& e) {
      EXPECT_EQ(e.kind(), error_kind::invalid_input);
      EXPECT_NE(std::string(e.what()).find(files[20].name), std::string::npos) << e.what();
    }
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  }
}

// Content read back from packed data (the daemon's pending folders) fails
// naming a stream by number; the error must name the file being archived.
class damaged_content final : public entry_content {
 public:
  void visit(const span_sink& sink) const override {
    sink(std::vector<std::uint8_t>(100, 'x'));
    throw archive_error(error_kind::corrupt_archive, "/tmp/a.7z", "stream 3: damaged data (CRC mismatch)");
  }
};

TEST(FolderPacker, ContentThatFailsToReadIsNamedInTheError) {
  temp_dir dir;
  auto files = make_files(4, 3);
  auto entries = entries_of(files);
  entries[2].content = std::make_shared<damaged_content>();
  for (unsigned threads : {1u, 2u}) {
    write_options options;
    options.compression.level = 1;
    options.compression.threads = threads;
    try {
      write_archive((dir / "out.7z").string(), entries, options);
      FAIL() << "expected an error";
    } catch (const archive_error& e) {
      EXPECT_EQ(e.kind(), error_kind::corrupt_archive);
      const std::string what = e.what();
      EXPECT_NE(what.find(files[2].name + ": stream 3: damaged data"), std::string::npos) << what;
    }
  }
}

TEST(FolderPacker, ProgressCountsEveryInputByteOnce) {
  // A stored folder is read twice with one thread (compressed, then stored).
  temp_dir dir;
  const auto files = make_files(10, 8);
  const auto entries = entries_of(files);
  std::uint64_t input_bytes = 0;
  for (const auto& file : files) input_bytes += file.bytes.size();
  for (unsigned threads : {1u, 2u}) {
    write_options options;
    options.plan.mode = pack_mode::batched;
    options.compression.threads = threads;
    std::uint64_t progress = 0;
    options.compression.progress = [&](std::uint64_t bytes) { progress += bytes; };
    write_archive((dir / "out.7z").string(), entries, options);
    EXPECT_EQ(progress, input_bytes) << threads << " threads";
    EXPECT_NE(run("7zz l -slt " + quote((dir / "out.7z").string())).output.find("Method = Copy"), std::string::npos);
  }
}

TEST(FolderPacker, MemoryBoundCoversEncodersAndParts) {
  compression_options options;
  options.level = 5;
  options.threads = 1;
  const std::uint64_t one = compression_memory_bytes(options);
  EXPECT_GT(one, std::uint64_t{150} << 20);  // liblzma: about 185 MiB at a 16 MiB dictionary
  EXPECT_LT(one, std::uint64_t{250} << 20);
  options.threads = 2;
  const std::uint64_t two = compression_memory_bytes(options);
  // Two encoders plus seven parts of four dictionaries (64 MiB) at most:
  // two compressed, with their packed bytes beside them, and three more.
  EXPECT_GE(two, 2 * one + 7 * (std::uint64_t{64} << 20));
  EXPECT_LT(two, 2 * one + 8 * (std::uint64_t{64} << 20));
  options.max_part_bytes = 16 << 20;  // shorter parts, less memory
  EXPECT_LT(compression_memory_bytes(options), two);
  options.level = 0;
  EXPECT_EQ(compression_memory_bytes(options), 0u);
}
