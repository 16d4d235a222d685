// sevenzfs-ctl as a program against a real FUSE mount of type fuse.sevenzfs:
// bindfs (subtype=sevenzfs) stands in for the daemon, its xattrs pass through
// to a directory where the test sets the values, and its process is the
// "daemon" that unmount waits for.
#include "operator_files.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <future>
#include <thread>

namespace fs = std::filesystem;
using namespace sevenzfs::test;
using namespace std::chrono_literals;

namespace {

bool mounted_as_sevenzfs(const fs::path& mountpoint) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  const std::string field = fmt::format(" {} ", mountpoint.string());
  for (std::string line; std::getline(mountinfo, line);) {
    if (line.find(field) != std::string::npos && line.find(" - fuse.sevenzfs ") != std::string::npos) {
      return true;
    }
  }
  return false;
}

struct bindfs_mount : testing::Test {
  temp_dir dir;
  fs::path source = dir / "source";
  fs::path mnt = dir / "mnt";
  pid_t bindfs = -1;

  void SetUp() override {
    if (run("command -v bindfs").exit_code != 0) GTEST_SKIP() << "bindfs is missing";
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount";
    fs::permissions(dir.path(), static_cast<fs::perms>(0755));
    fs::create_directories(source);
    fs::create_directories(mnt);
    bindfs = ::fork();
    if (bindfs == 0) {
      const int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::execlp("bindfs", "bindfs", "-f", "-o", "subtype=sevenzfs", source.c_str(), mnt.c_str(), nullptr);
      ::_exit(127);
    }
    for (int i = 0; i < 500 && !mounted_as_sevenzfs(mnt); ++i) std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(mounted_as_sevenzfs(mnt));
    set("pid", std::to_string(bindfs));
    set("archive", "/srv/a.7z");
    set("stats", R"({"version":"0.2.0","archive":"/srv/a.7z","pid":)" + std::to_string(bindfs) +
                     R"(,"mode":"solid","staged_bytes":4096,"commits_total":2,"last_error":""})" + "\n");
  }

  void TearDown() override {
    if (bindfs <= 0) return;
    run("fusermount3 -u -z " + quote(mnt.string()) + " 2>/dev/null");
    ::kill(bindfs, SIGTERM);
    ::waitpid(bindfs, nullptr, 0);
  }

  void set(const std::string& key, const std::string& value) {
    ASSERT_EQ(::setxattr(mnt.c_str(), ("user.sevenzfs." + key).c_str(), value.data(), value.size(), 0), 0) << key;
  }

  command_result ctl(const std::string& arguments) {
    return run("cd " + quote(dir.path().string()) + " && " + ctl_binary() + " " + arguments);
  }
};

}  // namespace

TEST_F(bindfs_mount, FindsTheMountInTheRealMountinfo) {
  const auto human = ctl("stats mnt/");
  EXPECT_EQ(human.exit_code, 0) << human.output;
  EXPECT_TRUE(std::regex_search(human.output, std::regex("\nstaged_bytes +4096 +4.0 KiB\n"))) << human.output;
  const auto prometheus = ctl("stats --prometheus ./mnt");
  EXPECT_NE(prometheus.output.find("sevenzfs_staged_bytes{mountpoint=\"" + mnt.string() + "\"} 4096\n"),
            std::string::npos)
      << prometheus.output;
  const auto not_mounted = ctl("stats source");
  EXPECT_EQ(not_mounted.exit_code, 3);
  EXPECT_NE(not_mounted.output.find("source: is not a mount point"), std::string::npos) << not_mounted.output;
}

TEST_F(bindfs_mount, AnyUserAllowedOnTheMountReadsTheStatistics) {
  if (run("command -v setpriv").exit_code != 0) GTEST_SKIP() << "setpriv is missing";
  // bindfs run by root mounts with allow_other: user nobody may use it.
  const auto result = run("setpriv --reuid=65534 --regid=65534 --clear-groups " + ctl_binary() + " stats --json " +
                          quote(mnt.string()));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("\"commits_total\":2"), std::string::npos) << result.output;
}

TEST_F(bindfs_mount, UnmountWaitsForTheProcessAndTheMount) {
  // The fake daemon's unmount control only records the call; the test then
  // unmounts bindfs (which exits) 500 ms later.
  const auto started = std::chrono::steady_clock::now();
  auto unmount = std::async(std::launch::async, [&] { return ctl("unmount mnt"); });
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(unmount.wait_for(0ms), std::future_status::timeout) << "returned while the daemon runs";
  const auto stopped = std::chrono::steady_clock::now();
  ASSERT_EQ(run("fusermount3 -u " + quote(mnt.string())).exit_code, 0);
  const auto result = unmount.get();
  EXPECT_GE(std::chrono::steady_clock::now() - started, stopped - started);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("everything is committed to /srv/a.7z; unmounted; the daemon (pid " +
                               std::to_string(bindfs) + ") has exited"),
            std::string::npos)
      << result.output;
  EXPECT_FALSE(mounted_as_sevenzfs(mnt));
  int status = 0;
  EXPECT_EQ(::waitpid(bindfs, &status, 0), bindfs);
  bindfs = -1;
}
