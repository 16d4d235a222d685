// How the daemon runs as mount(8), fstab and a shell start it: in the
// background its log lines reach syslog (caught on a /dev/log of the test's
// own, in a private mount namespace); with a relative MOUNTPOINT, SIGTERM
// still commits, unmounts and exits (libfuse changes the working directory
// to /, so every path must have been made absolute); the lock file names the
// daemon that runs, not the parent that returned.
#include "mount_fixture.hpp"

#include "archive/archive_writer.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

namespace fs = std::filesystem;
using namespace sevenzfs::test;

namespace {

// An archive with one entry whose name is not a plain relative path: the
// daemon warns about it, whatever its log level.
void make_archive_with_an_odd_name(const fs::path& archive) {
  namespace ar = sevenzfs::archive;
  ar::entry e;
  e.path = "../odd.txt";
  e.mode = 0644;
  e.mtime = {1'700'000'000, 0};
  e.size = 3;
  e.content = std::make_shared<ar::memory_content>(std::string_view("odd"));
  const std::vector<ar::entry> entries{e};
  ar::create_archive(archive.string(), {}, entries, {});
}

}  // namespace

TEST_F(mount_fixture, InTheBackgroundLogLinesReachSyslog) {
  if (run("command -v unshare && command -v pgrep").exit_code != 0) GTEST_SKIP() << "unshare or pgrep is missing";
  make_archive_with_an_odd_name(archive);
  const auto script = fs::path(SEVENZFS_TEST_SCRIPTS) / "background_syslog.sh";
  const auto caught = run("unshare -m " + quote(script.string()) + " " + quote(daemon_binary()) + " " +
                          quote(archive.string()) + " " + quote(mnt.string()) + " " + quote(dir.path().string()));
  ASSERT_EQ(caught.exit_code, 0) << caught.output;
  EXPECT_NE(caught.output.find("sevenzfs"), std::string::npos) << "syslog lines carry the program's name\n"
                                                               << caught.output;
  EXPECT_NE(caught.output.find("entry '../odd.txt' is shown as 'odd.txt'"), std::string::npos) << caught.output;
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " new.txt").output, "written\n")
      << "the background daemon committed after the unmount";
  EXPECT_FALSE(is_mounted(mnt));
}

TEST_F(mount_fixture, SigtermWithARelativeMountpointLeavesNoMountBehind) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(out, 2);
    if (::chdir(dir.path().c_str()) != 0) ::_exit(126);
    const std::string program = daemon_binary();
    ::execl(program.c_str(), "sevenzfs", "-f", "archive.7z", "mnt", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  bool mounted = false;
  for (int i = 0; i < 100 && !mounted; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    mounted = is_mounted(mnt);
  }
  if (mounted) write_file(mnt / "a.txt", "relative\n");
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(mounted) << read_file(log);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(log);
  EXPECT_FALSE(is_mounted(mnt)) << "no dead mount left behind";
  EXPECT_EQ(run("ls " + quote(mnt.string()) + " 2>&1").output, "") << "the mountpoint is an empty directory again";
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " a.txt").output, "relative\n");
}

TEST_F(mount_fixture, TheLockFileNamesTheDaemonThatRunsInTheBackground) {
  ASSERT_EQ(run(quote(daemon_binary()) + " " + quote(archive.string()) + " " + quote(mnt.string())).exit_code, 0);
  const auto pid = run("pgrep -f -x " + quote(daemon_binary() + " " + archive.string() + " " + mnt.string())).output;
  ASSERT_FALSE(pid.empty());
  EXPECT_EQ(read_file(archive.string() + ".lock"),
            "pid " + pid.substr(0, pid.find('\n')) + ", mounted on " + mnt.string() + "\n")
      << "not the parent that exited after the mount";
  ASSERT_EQ(run("fusermount3 -u " + quote(mnt.string())).exit_code, 0);
  for (int i = 0;
       i < 100 &&
       !run("pgrep -f -x " + quote(daemon_binary() + " " + archive.string() + " " + mnt.string())).output.empty();
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_FALSE(fs::exists(archive.string() + ".lock")) << "the daemon removed it as it ended, not the parent";
}
