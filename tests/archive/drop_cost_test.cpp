// What dropping one file costs, printed against 7-Zip's `7zz d` on the same
// archive in the same run (no timing is asserted: the machine is shared).
// A solid folder loses a file: its survivors are decoded and compressed
// again. A batched archive loses a file in the middle: the kept folders are
// copied. SEVENZFS_DROP_BENCH_MIB sets the data size (default 8 MiB, so that
// CI stays quick; the README quotes a run with 64).
#include "archive/archive_appender.hpp"

#include "archive/archive_model.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

namespace fs = std::filesystem;
using namespace sevenzfs::archive;
using namespace sevenzfs::test;

namespace {

constexpr std::size_t kFileBytes = std::size_t{1} << 20;

std::size_t data_mib() {
  const char* wanted = std::getenv("SEVENZFS_DROP_BENCH_MIB");
  return wanted != nullptr ? static_cast<std::size_t>(std::max(2, std::atoi(wanted))) : 8;
}

// Text of a few thousand words in random order: it compresses to about a
// third, and not in a few bytes, as real logs do.
std::string word_text(std::size_t index, std::size_t bytes) {
  static const std::vector<std::string> words = [] {
    std::vector<std::string> list;
    std::uint64_t state = 12345;
    for (int i = 0; i < 4096; ++i) {
      std::string word;
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      for (auto length = 3 + (state >> 60); length > 0; --length) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        word += static_cast<char>('a' + (state >> 59) % 26);
      }
      list.push_back(word);
    }
    return list;
  }();
  std::string text;
  text.reserve(bytes + 64);
  std::uint64_t state = index * 7919 + 1;
  while (text.size() < bytes) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    text += words[(state >> 33) % words.size()];
    text += (state >> 20) % 12 == 0 ? '\n' : ' ';
  }
  text.resize(bytes);
  return text;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct measured {
  double seconds = 0;
  std::uint64_t bytes_after = 0;
};

// `7zz d` of `name` from a copy of `archive`, with the level and threads the appender used.
measured seven_zip_delete(const fs::path& archive, const fs::path& copy, const std::string& name) {
  fs::copy_file(archive, copy, fs::copy_options::overwrite_existing);
  const auto start = std::chrono::steady_clock::now();
  const auto deleted = run("7zz d -mx=5 -mmt=2 " + quote(copy.string()) + " " + quote(name));
  measured m{seconds_since(start), fs::file_size(copy)};
  EXPECT_EQ(deleted.exit_code, 0) << deleted.output;
  return m;
}

void measure(pack_mode mode, const std::string& label) {
  temp_dir dir;
  const auto path = dir / "bench.7z";
  write_options options;
  options.plan.mode = mode;
  options.compression.level = 5;
  options.compression.threads = 2;
  const std::size_t files = data_mib() * (std::size_t{1} << 20) / kFileBytes;
  commit_request first;
  for (std::size_t i = 0; i < files; ++i)
    first.new_files.push_back(text_entry(fmt::format("logs/{:04}.log", i), word_text(i, kFileBytes)));
  archive_appender archive(path.string(), options);
  auto start = std::chrono::steady_clock::now();
  archive.commit(first);
  const double compress_seconds = seconds_since(start);
  const auto size_before = fs::file_size(path);

  const std::uint64_t victim = files / 2;
  const std::string victim_name = archive.database().files.at(victim).name;
  const measured peer = seven_zip_delete(path, dir / "peer.7z", victim_name);

  commit_request drop;
  for (std::uint64_t s = 0; s < archive.stream_count(); ++s) {
    if (s != victim) drop.kept_streams.push_back({s, {}});
  }
  start = std::chrono::steady_clock::now();
  const auto result = archive.commit(drop);
  const double drop_seconds = seconds_since(start);
  const auto tested = run("7zz t " + quote(path.string()));
  EXPECT_EQ(tested.exit_code, 0) << tested.output;
  EXPECT_EQ(archive.stream_count(), files - 1);

  fmt::print("\n{}: {} files of 1 MiB, level 5, 2 threads; archive {} bytes\n", label, files, size_before);
  fmt::print("  first commit (compress everything)  {:8.2f} s\n", compress_seconds);
  fmt::print(
      "  sevenzfs drop of one file           {:8.2f} s  rewritten={} re-encoded {} B, copied {} B, "
      "archive {} B\n",
      drop_seconds, result.rewritten, result.reencoded_bytes, result.copied_bytes, fs::file_size(path));
  fmt::print("  7zz d of the same file              {:8.2f} s  archive {} B\n", peer.seconds, peer.bytes_after);
  fmt::print("  ratio sevenzfs / 7zz d              {:8.2f}x time, {:.3f}x size\n", drop_seconds / peer.seconds,
             static_cast<double>(fs::file_size(path)) / static_cast<double>(peer.bytes_after));
}

}  // namespace

TEST(DropCost, OneFileOfALargeSolidFolder) { measure(pack_mode::solid, "solid"); }

TEST(DropCost, OneFileInTheMiddleOfABatchedArchive) { measure(pack_mode::batched, "batched"); }
