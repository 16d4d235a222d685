// The daemon against hostile archives: every case of the hostile corpus
// (tests/archive/hostile_archives.hpp) given as ARCHIVE makes `sevenzfs -f
// CASE MNT` exit with code 3 within a bounded time and memory, with a message
// naming the archive, and leaves the file byte for byte as it was.
#include "archive/hostile_archives.hpp"
#include "daemon_process.hpp"
#include "test_support.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <iostream>

namespace fs = std::filesystem;
using namespace sevenzfs::test;
using namespace std::chrono_literals;

namespace {

constexpr int kExitArchiveUnusable = 3;
constexpr double kMaxSeconds = 2.0;
// The daemon's own footprint (libfuse, the pool's bookkeeping) plus what
// the archive parser may use: a claimed size must not turn into memory.
constexpr std::uint64_t kMaxPeakRssKib = 64 * 1024;

struct refusal {
  int exit_code = -1;
  double seconds = 0;
  std::uint64_t peak_rss_kib = 0;
  std::string log;
};

refusal start_daemon_on(const fs::path& archive, const fs::path& mountpoint, const fs::path& log) {
  fs::remove(log);
  const auto started = std::chrono::steady_clock::now();
  daemon_process daemon(archive, mountpoint, "", log);
  refusal r;
  r.exit_code = daemon.wait_exit(20s);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  r.peak_rss_kib = daemon.peak_rss_kib().value_or(0);
  r.log = daemon.log();
  return r;
}

}  // namespace

TEST(DaemonHostileArchives, EachCaseIsRefusedWithExitThreeQuicklyWithBoundedMemoryAndLeftUnchanged) {
  temp_dir dir;
  fs::create_directories(dir / "cases");
  fs::create_directories(dir / "mnt");
  const auto cases = make_hostile_archives(dir / "cases");
  ASSERT_GT(cases.size(), 300u);
  ASSERT_TRUE(std::ranges::any_of(cases, [](const hostile_case& c) { return c.name == "a FIFO"; }))
      << "the corpus must hold a FIFO as ARCHIVE";
  double slowest = 0;
  std::uint64_t largest = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    // An empty file is a new archive (mktemp's), not a hostile one.
    if (c.regular_file && fs::file_size(c.path) == 0) continue;
    const std::string before = c.regular_file ? read_file(c.path) : std::string{};
    const auto type_before = fs::symlink_status(c.path).type();
    const auto r = start_daemon_on(c.path, dir / "mnt", dir / "daemon.log");
    ASSERT_NE(r.exit_code, -1) << "the daemon did not exit within 20 s:\n" << r.log;
    EXPECT_EQ(r.exit_code, kExitArchiveUnusable) << r.log;
    EXPECT_NE(r.log.find(c.path.string()), std::string::npos) << "the message names the archive:\n" << r.log;
    EXPECT_LT(r.seconds, kMaxSeconds);
    EXPECT_GT(r.peak_rss_kib, 0u) << "peak RSS not measured";
    EXPECT_LT(r.peak_rss_kib, kMaxPeakRssKib);
    if (c.regular_file) {
      EXPECT_EQ(read_file(c.path), before) << "the archive changed";
    }
    EXPECT_EQ(fs::symlink_status(c.path).type(), type_before);
    EXPECT_FALSE(is_mounted(dir / "mnt"));
    slowest = std::max(slowest, r.seconds);
    largest = std::max(largest, r.peak_rss_kib);
  }
  std::cout << fmt::format("{} hostile archives refused by the daemon; slowest {:.3f} s, largest peak RSS {:.1f} MiB\n",
                           cases.size(), slowest, static_cast<double>(largest) / 1024);
}

TEST(DaemonHostileArchives, AFifoAsArchiveIsRefusedWithoutOpeningIt) {
  temp_dir dir;
  fs::create_directories(dir / "mnt");
  const auto fifo = dir / "fifo.7z";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  // Opening a FIFO for reading blocks until a writer comes: a daemon that
  // opened it first would hang here until the deadline.
  const auto r = start_daemon_on(fifo, dir / "mnt", dir / "daemon.log");
  EXPECT_EQ(r.exit_code, kExitArchiveUnusable) << r.log;
  EXPECT_LT(r.seconds, kMaxSeconds);
  EXPECT_NE(r.log.find(fifo.string()), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("FIFO"), std::string::npos) << r.log;
  EXPECT_TRUE(fs::is_fifo(fifo));
}
