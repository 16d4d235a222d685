// sevenzfs-ctl against the real daemon: flush makes the archive hold what
// was written, the statistics parse in every format, unmount returns only
// once the archive holds everything and the daemon has exited, and a failing
// final commit leaves the mount in place; compact leaves no dead bytes.
#include "fs/daemon_process.hpp"
#include "fs/mount_fixture.hpp"
#include "operator_files.hpp"
#include "test_support.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <regex>
#include <thread>

namespace fs = std::filesystem;
using namespace sevenzfs::test;

namespace {

// The keys of the statistics table in README.md.
const char* const kContractKeys[] = {"version",
                                     "archive",
                                     "pid",
                                     "uptime_seconds",
                                     "mode",
                                     "level",
                                     "files",
                                     "directories",
                                     "files_under_16k",
                                     "files_under_1m",
                                     "files_1m_or_more",
                                     "staged_files",
                                     "staged_bytes",
                                     "archived_files",
                                     "archived_bytes",
                                     "archive_bytes",
                                     "packed_bytes",
                                     "dead_bytes",
                                     "packed_to_unpacked_ratio",
                                     "pool_bytes",
                                     "pool_free_bytes",
                                     "pool_high_water_bytes",
                                     "pool_waits_total",
                                     "pool_wait_seconds_total",
                                     "cache_bytes",
                                     "cache_hits_total",
                                     "cache_misses_total",
                                     "commits_total",
                                     "failed_commits_total",
                                     "committing",
                                     "commit_pending_bytes",
                                     "commit_done_bytes",
                                     "commit_progress_percent",
                                     "last_commit_unix_seconds",
                                     "last_commit_duration_seconds",
                                     "last_commit_files",
                                     "last_commit_bytes",
                                     "last_commit_continued_bytes",
                                     "last_commit_bytes_per_second",
                                     "last_commit_files_per_second",
                                     "last_error",
                                     "last_error_unix_seconds"};

struct ctl_daemon : testing::Test {
  temp_dir dir;
  fs::path archive = dir / "archive.7z";
  fs::path mnt = dir / "mnt";
  fs::path log = dir / "daemon.log";

  void SetUp() override {
    fs::permissions(dir.path(), static_cast<fs::perms>(0755));
    fs::create_directories(mnt);
  }

  std::unique_ptr<daemon_process> mount(const fs::path& at, const std::string& options = "") {
    auto daemon = std::make_unique<daemon_process>(at, mnt, options, log);
    EXPECT_TRUE(daemon->wait_mounted()) << read_file(log);
    return daemon;
  }

  command_result ctl(const std::string& arguments) { return run(ctl_binary() + " " + arguments); }
};

}  // namespace

TEST_F(ctl_daemon, FlushMakesTheArchiveHoldWhatWasWritten) {
  auto daemon = mount(archive);
  write_file(mnt / "a.txt", "alpha\n");
  fs::create_directories(mnt / "d");
  write_file(mnt / "d" / "b.txt", std::string(100000, 'b'));
  const auto flushed = ctl("flush " + quote(mnt.string()));
  EXPECT_EQ(flushed.exit_code, 0) << flushed.output;
  EXPECT_NE(flushed.output.find(": flushed: everything written so far is in " + archive.string()), std::string::npos)
      << flushed.output;
  // Still mounted, and the archive already holds both files.
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " a.txt").output, "alpha\n");
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " d/b.txt | wc -c").output, "100000\n");
  EXPECT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
}

TEST_F(ctl_daemon, StatisticsInEveryFormat) {
  auto daemon = mount(archive, "level=3");
  write_file(mnt / "f.txt", std::string(20000, 'f'));
  ASSERT_EQ(ctl("flush " + quote(mnt.string())).exit_code, 0);

  const auto json = ctl("stats --json " + quote(mnt.string()));
  ASSERT_EQ(json.exit_code, 0) << json.output;
  write_file(dir / "stats.json", json.output);
  std::string keys;
  for (const char* key : kContractKeys) keys += std::string(keys.empty() ? "" : ",") + key;
  const auto checked = run("/usr/bin/python3 -c " +
                           quote("import json,sys\n"
                                 "d = json.load(open(sys.argv[1]))\n"
                                 "missing = [k for k in sys.argv[2].split(',') if k not in d]\n"
                                 "print(missing, d['level'], d['commits_total'] >= 1, d['archive'])\n") +
                           " " + quote((dir / "stats.json").string()) + " " + keys);
  EXPECT_EQ(checked.output, "[] 3 True " + archive.string() + "\n");

  const auto human = ctl("stats " + quote(mnt.string()));
  EXPECT_EQ(human.exit_code, 0);
  for (const char* key : kContractKeys) {
    EXPECT_TRUE(std::regex_search(human.output, std::regex(std::string("(^|\n)") + key + " "))) << key;
  }

  const auto prometheus = ctl("stats --prometheus " + quote(mnt.string()));
  EXPECT_EQ(prometheus.exit_code, 0);
  EXPECT_NE(prometheus.output.find("sevenzfs_commits_total{mountpoint=\"" + mnt.string() + "\"} "), std::string::npos)
      << prometheus.output;
  if (run("/usr/bin/python3 -c 'import prometheus_client'").exit_code == 0) {
    write_file(dir / "m.prom", prometheus.output);
    const auto parsed = run("/usr/bin/python3 -c " +
                            quote("import sys\n"
                                  "from prometheus_client.parser import text_string_to_metric_families as p\n"
                                  "print(len(list(p(open(sys.argv[1]).read()))))\n") +
                            " " + quote((dir / "m.prom").string()));
    EXPECT_EQ(parsed.output, "39\n") << "38 numbers and sevenzfs_info\n" << prometheus.output;
  }
  EXPECT_EQ(daemon->unmount_and_wait(), 0);
}

TEST_F(ctl_daemon, UnmountReturnsOnceTheArchiveHoldsEverything) {
  auto daemon = mount(archive, "level=9");
  // Enough to make the final commit take a while.
  ASSERT_EQ(run("head -c 24000000 /dev/urandom > " + quote((mnt / "random.bin").string())).exit_code, 0);
  ASSERT_EQ(run("seq 1 3000000 > " + quote((mnt / "numbers.txt").string())).exit_code, 0);
  const auto unmounted = ctl("unmount " + quote(mnt.string()));
  // Right when it returns: the daemon is gone, so is the mount, and the
  // archive holds everything.
  EXPECT_EQ(daemon->wait_exit(std::chrono::seconds(1)), 0) << daemon->log();
  EXPECT_EQ(unmounted.exit_code, 0) << unmounted.output;
  EXPECT_FALSE(is_mounted(mnt));
  EXPECT_NE(unmounted.output.find("everything is committed to " + archive.string() + "; unmounted; the daemon (pid"),
            std::string::npos)
      << unmounted.output;
  // Writes are refused by then: the commit's peak of memory (the tree and
  // the header's databases) does without the idle encoders, as at the end
  // of a plain unmount.
  EXPECT_TRUE(std::regex_search(daemon->log(), std::regex("released the memory of [1-9][0-9]* idle compressor encoders")))
      << daemon->log();
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " random.bin | wc -c").output, "24000000\n");
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " numbers.txt | tail -1").output, "3000000\n");
}

TEST_F(ctl_daemon, FailedFinalCommitLeavesTheMountAndARetrySucceeds) {
  // The archive lives on a 1 MiB tmpfs: a 3 MiB final commit cannot fit.
  small_tmpfs small(dir / "small", "1m");
  ASSERT_TRUE(small.mounted());
  auto daemon = mount(small / "a.7z", "level=0");
  write_file(mnt / "fits.txt", "small\n");
  ASSERT_EQ(ctl("flush " + quote(mnt.string())).exit_code, 0);
  write_file(mnt / "too-big.bin", std::string(3u << 20, 'z'));

  const auto failed = ctl("unmount " + quote(mnt.string()));
  EXPECT_EQ(failed.exit_code, 1) << failed.output;
  EXPECT_NE(failed.output.find("unmount failed: No space left on device"), std::string::npos) << failed.output;
  EXPECT_NE(failed.output.find("still mounted, nothing is lost"), std::string::npos) << failed.output;
  EXPECT_TRUE(is_mounted(mnt));
  EXPECT_EQ(read_file(mnt / "too-big.bin").size(), 3u << 20) << "nothing lost";
  const auto stats = ctl("stats --json " + quote(mnt.string()));
  EXPECT_TRUE(std::regex_search(stats.output, std::regex("\"failed_commits_total\":[1-9]"))) << stats.output;

  fs::remove(mnt / "too-big.bin");
  const auto retried = ctl("unmount " + quote(mnt.string()));
  EXPECT_EQ(retried.exit_code, 0) << retried.output;
  EXPECT_EQ(daemon->wait_exit(std::chrono::seconds(5)), 0) << daemon->log();
  EXPECT_EQ(run("7zz e -so " + quote((small / "a.7z").string()) + " fits.txt").output, "small\n");
}

// sevenzfs-ctl's flush holds no lock on the mount's root while it commits:
// entries are made at the top of the mount meanwhile. (Setting the flush
// attribute on the root, the kernel holds the root's lock for the whole
// commit: a mkdir there waited for all of it.)
TEST_F(ctl_daemon, TheTopOfTheMountStaysUsableWhileAFlushCommits) {
  auto daemon = mount(archive, "level=9,threads=1");
  // A file still open is compressed by the flush's own commit: seconds at level 9.
  std::string text;
  for (std::uint64_t i = 0; text.size() < (3u << 20); ++i) {
    text += fmt::format("{} {}\n", i, i * 2654435761u % 1000003);
  }
  const int held = ::open((mnt / "open.txt").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(held, 0);
  ASSERT_EQ(::write(held, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  auto flushing = std::async(std::launch::async, [&] { return ctl("flush " + quote(mnt.string())); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (xattr(mnt, "user.sevenzfs.committing") != "1" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(xattr(mnt, "user.sevenzfs.committing"), "1");
  fs::create_directory(mnt / "made-meanwhile");
  write_file(mnt / "written-meanwhile.txt", "x\n");
  EXPECT_EQ(run("ls " + quote(mnt.string()) + " | wc -l").output, "3\n");
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.committing"), "1")
      << "the commit ended before the entries were made: the test tells nothing";
  const auto flushed = flushing.get();
  EXPECT_EQ(flushed.exit_code, 0) << flushed.output;
  ::close(held);
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " open.txt | wc -c").output, fmt::format("{}\n", text.size()));
}

TEST_F(ctl_daemon, OtherUsersReadStatisticsButControlNothing) {
  if (run("command -v setpriv").exit_code != 0) GTEST_SKIP() << "setpriv is missing";
  auto daemon = mount(archive, "allow_other");
  const std::string as_nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups " + ctl_binary() + " ";
  const auto stats = run(as_nobody + "stats --json " + quote(mnt.string()));
  EXPECT_EQ(stats.exit_code, 0) << stats.output;
  for (const char* control : {"flush", "unmount", "compact"}) {
    const auto refused = run(as_nobody + control + " " + quote(mnt.string()));
    EXPECT_EQ(refused.exit_code, 1) << control << ": " << refused.output;
    EXPECT_NE(refused.output.find(std::string(control) + " is only for the user who mounted it and root"),
              std::string::npos)
        << refused.output;
  }
  EXPECT_TRUE(is_mounted(mnt));
  EXPECT_EQ(ctl("unmount " + quote(mnt.string())).exit_code, 0);
  EXPECT_EQ(daemon->wait_exit(std::chrono::seconds(5)), 0);
}

TEST_F(ctl_daemon, CompactLeavesNoDeadBytes) {
  auto daemon = mount(archive, "mode=batched,compact_at=0,level=1");
  std::string noise(400000, '\0');
  std::uint64_t state = 88172645463325252ULL;
  for (auto& c : noise) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    c = static_cast<char>(state);
  }
  write_file(mnt / "kept", "kept\n");
  ASSERT_EQ(ctl("flush " + quote(mnt.string())).exit_code, 0);
  write_file(mnt / "removed", noise);
  ASSERT_EQ(ctl("flush " + quote(mnt.string())).exit_code, 0);
  fs::remove(mnt / "removed");
  ASSERT_EQ(ctl("flush " + quote(mnt.string())).exit_code, 0);
  const auto with_dead = fs::file_size(archive);
  EXPECT_GT(with_dead, noise.size());
  const auto compacted = ctl("compact " + quote(mnt.string()));
  EXPECT_EQ(compacted.exit_code, 0) << compacted.output;
  EXPECT_NE(compacted.output.find(": compacted " + archive.string() + " ("), std::string::npos) << compacted.output;
  EXPECT_LT(fs::file_size(archive), 10000u);
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " kept").output, "kept\n");
  EXPECT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
}

TEST_F(ctl_daemon, NotASevenzfsMount) {
  const auto result = ctl("flush " + quote(dir.path().string()));
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.output.find("is not a mount point"), std::string::npos) << result.output;
}
