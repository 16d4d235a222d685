#include "hostile_archives.hpp"

#include "archive/archive_error.hpp"
#include "archive/archive_reader.hpp"
#include "archive/file_io.hpp"
#include "archive/header_serializer.hpp"
#include "measured_child.hpp"
#include "test_support.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

namespace fs = std::filesystem;
using namespace sevenzfs::archive;
using namespace sevenzfs::test;
using namespace std::chrono_literals;

namespace {

constexpr double kMaxSeconds = 1.0;
constexpr std::uint64_t kMaxPeakRss = std::uint64_t{64} << 20;

// Exit codes of the parsing child: 10 + error_kind when refused.
constexpr int kAccepted = 1;
int refused_code(error_kind kind) { return 10 + static_cast<int>(kind); }

child_run parse_in_child(const fs::path& path) {
  return run_in_child(
      [&](std::string& message) {
        try {
          read_archive(path.string());
          message = "accepted";
          return kAccepted;
        } catch (const archive_error& e) {
          message = e.what();
          return refused_code(e.kind());
        }
      },
      10s);
}

const hostile_case& find_case(const std::vector<hostile_case>& cases, const std::string& name) {
  const auto it = std::ranges::find(cases, name, &hostile_case::name);
  if (it == cases.end()) throw std::runtime_error("no hostile case named " + name);
  return *it;
}

}  // namespace

TEST(HostileArchives, EachIsRefusedQuicklyWithBoundedMemoryAndLeftUnchanged) {
  temp_dir dir;
  const auto cases = make_hostile_archives(dir.path());
  ASSERT_GT(cases.size(), 300u);
  double slowest = 0;
  std::uint64_t largest = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string before = c.regular_file ? read_file(c.path) : std::string{};
    const auto type_before = fs::symlink_status(c.path).type();
    const auto run = parse_in_child(c.path);
    ASSERT_EQ(run.signal, 0) << "the parse was killed (a hang passes the 10 s deadline)";
    const std::vector<int> refusals{refused_code(error_kind::corrupt_archive), refused_code(error_kind::unsupported),
                                    refused_code(error_kind::invalid_input)};
    EXPECT_NE(std::ranges::find(refusals, run.exit_code), refusals.end())
        << "exit code " << run.exit_code << ": " << run.message;
    EXPECT_NE(run.message.find(c.path.string()), std::string::npos) << run.message;
    EXPECT_LT(run.seconds, kMaxSeconds);
    EXPECT_LT(run.peak_rss_bytes, kMaxPeakRss);
    if (c.regular_file) {
      EXPECT_EQ(read_file(c.path), before) << "the input changed";
    }
    EXPECT_EQ(fs::symlink_status(c.path).type(), type_before);
    slowest = std::max(slowest, run.seconds);
    largest = std::max(largest, run.peak_rss_bytes);
  }
  std::cout << fmt::format("{} hostile archives refused; slowest {:.3f} s, largest peak RSS {:.1f} MiB\n", cases.size(),
                           slowest, static_cast<double>(largest) / (1 << 20));
}

TEST(HostileArchives, RefusedForTheRightReason) {
  temp_dir dir;
  const auto cases = make_hostile_archives(dir.path());
  const auto expect = [&](const std::string& name, error_kind kind, const std::string& says) {
    SCOPED_TRACE(name);
    const auto run = parse_in_child(find_case(cases, name).path);
    EXPECT_EQ(run.exit_code, refused_code(kind)) << run.message;
    EXPECT_NE(run.message.find(says), std::string::npos) << run.message;
  };
  expect("encoded header (LZMA2) claiming 4 GiB", error_kind::corrupt_archive, "not the 4294967296 it claims");
  expect("encoded header (LZMA, 4 GiB dictionary) claiming 4 GiB", error_kind::corrupt_archive, "claims");
  expect("stored encoded header claiming 4 GiB", error_kind::corrupt_archive, "sizes differ");
  expect("header claiming 40 million files", error_kind::corrupt_archive, "a count of 40000000");
  expect("encoded header of 40 million directories in 5 MB", error_kind::corrupt_archive, "a count of 40000000");
  expect("pack position wrapping past 2^64", error_kind::corrupt_archive, "overflow");
  expect("pack sizes summing past 2^64", error_kind::corrupt_archive, "overflow");
  expect("substream sizes summing past 2^64", error_kind::corrupt_archive, "overflow");
  expect("packs running into the header", error_kind::corrupt_archive, "overlap the header");
  expect("a cyclic coder graph", error_kind::corrupt_archive, "cycle");
  expect("encoded headers nested five deep", error_kind::corrupt_archive, "nested");
  expect("unfinished archive (start header never written)", error_kind::corrupt_archive, "unfinished");
  expect("7z format version 1.4", error_kind::unsupported, "version");
  expect("encrypted header (7zz -mhe=on)", error_kind::unsupported, "encrypted");
  expect("first volume of a multi-volume archive (7zz -v4k)", error_kind::corrupt_archive, "beyond the end");
  expect("a FIFO", error_kind::invalid_input, "FIFO");
  expect("a directory", error_kind::invalid_input, "directory");
}

// Damage that keeps every CRC matching may still describe a valid archive:
// such a header is accepted, but whatever it says must cost bounded time and
// memory, and what was accepted must serialize back without trouble (an
// append rewrites it).
TEST(HostileArchives, DamageUnderMatchingCrcsIsBoundedEvenWhenAccepted) {
  temp_dir dir;
  std::vector<std::vector<std::uint8_t>> variants;
  for (const auto& sample : make_sample_archives(dir / "samples")) {
    for (std::size_t i = 0; i < sample.header.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        auto damaged = sample.header;
        damaged[i] = static_cast<std::uint8_t>(damaged[i] ^ (1u << bit));
        variants.push_back(assemble_archive(sample.body, damaged));
      }
    }
  }
  ASSERT_GT(variants.size(), 1000u);
  const auto run = run_in_child(
      [&](std::string& message) {
        // One in-memory file rewritten for each variant, read through the
        // descriptor API.
        const unique_fd file(::memfd_create("variant.7z", MFD_CLOEXEC));
        if (!file) throw std::runtime_error("memfd_create failed");
        double slowest = 0;
        int accepted = 0;
        for (const auto& variant : variants) {
          if (::ftruncate(file.get(), 0) != 0) throw std::runtime_error("ftruncate failed");
          write_at(file.get(), 0, variant, "variant.7z");
          const auto started = std::chrono::steady_clock::now();
          try {
            const auto layout = read_archive(file.get(), "variant.7z");
            serialize_header(layout.db);
            dead_ranges(layout);
            ++accepted;
          } catch (const archive_error&) {
          }
          slowest =
              std::max(slowest, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        }
        message = fmt::format("{} {}", slowest, accepted);
        return 0;
      },
      60s);
  ASSERT_EQ(run.signal, 0);
  ASSERT_EQ(run.exit_code, 0) << run.message;
  double slowest = 0;
  int accepted = 0;
  ASSERT_EQ(std::sscanf(run.message.c_str(), "%lf %d", &slowest, &accepted), 2) << run.message;
  EXPECT_LT(slowest, kMaxSeconds);
  EXPECT_LT(run.peak_rss_bytes, kMaxPeakRss);
  std::cout << fmt::format("{} damaged headers with matching CRCs: {} accepted, slowest parse {:.4f} s\n",
                           variants.size(), accepted, slowest);
}
