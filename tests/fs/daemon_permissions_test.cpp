// Who checks modes on a mount: the kernel (default_permissions) whenever
// anyone but root may enter; root's own mount leaves them to root, who passes
// them anyway, except that no one executes a file with no x bit (and
// access(2) says so).
#include "mount_fixture.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <fstream>
#include <sstream>
#include <string>

namespace fs = std::filesystem;
using namespace sevenzfs::test;

namespace {

// The superblock options of the mount at `where` (the last field of its
// line in /proc/self/mountinfo), or "" when nothing is mounted there.
std::string super_options_of(const fs::path& where) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  for (std::string line; std::getline(mountinfo, line);) {
    std::istringstream fields(line);
    std::string id, parent, device, root, point;
    fields >> id >> parent >> device >> root >> point;
    if (point == where.string()) return line.substr(line.rfind(' ') + 1);
  }
  return "";
}

bool has_option(const std::string& list, const std::string& option) {
  return ("," + list + ",").find("," + option + ",") != std::string::npos;
}

TEST_F(mount_fixture, RootsOwnMountLeavesModeChecksToRootButNotToAnyoneElse) {
  if (::geteuid() != 0) GTEST_SKIP() << "the daemon must run as root";
  {
    auto daemon = mount();
    const std::string options = super_options_of(mnt);
    ASSERT_NE(options, "") << mnt << " is not in /proc/self/mountinfo";
    EXPECT_FALSE(has_option(options, "default_permissions")) << options;
    const auto read_only = mnt / "read-only";
    write_file(read_only, "before\n");
    ASSERT_EQ(::chmod(read_only.c_str(), 0444), 0);
    write_file(read_only, "root writes anyway\n");
    EXPECT_EQ(read_file(read_only), "root writes anyway\n");
    const auto script = mnt / "script";
    write_file(script, "#!/bin/sh\nexit 0\n");
    ASSERT_EQ(::chmod(script.c_str(), 0644), 0);
    EXPECT_NE(run(quote(script.string())).exit_code, 0) << "a file with no x bit ran";
    // access(2) says the same (`test -x`, `find -executable`, PATH lookups).
    EXPECT_EQ(::access(script.c_str(), X_OK), -1);
    EXPECT_EQ(errno, EACCES);
    EXPECT_EQ(::access(read_only.c_str(), R_OK | W_OK), 0) << errno;
    EXPECT_EQ(::access(mnt.c_str(), R_OK | W_OK | X_OK), 0) << errno;
    ASSERT_EQ(::chmod(script.c_str(), 0744), 0);
    EXPECT_EQ(::access(script.c_str(), X_OK), 0) << errno;
    const auto ran = run(quote(script.string()));
    EXPECT_EQ(ran.exit_code, 0) << ran.output;
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  }
  auto shared = mount("allow_other");
  EXPECT_TRUE(has_option(super_options_of(mnt), "default_permissions")) << super_options_of(mnt);
  ASSERT_EQ(shared->unmount_and_wait(), 0) << shared->log();
}

// Runs `body` in a child process as nobody (uid and gid 65534, no
// supplementary groups); returns its exit status (0: it returned true).
template <typename Body>
int as_nobody(Body&& body) {
  const pid_t child = ::fork();
  if (child == 0) {
    const gid_t none[] = {65534};
    if (::setgroups(1, none) != 0 || ::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(2);
    }
    ::_exit(body() ? 0 : 1);
  }
  int status = 0;
  if (child < 0 || ::waitpid(child, &status, 0) != child) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A write or an O_TRUNC open by anyone but root drops a file's set-user-ID
// bit, and its set-group-ID bit when the group may execute the file or the
// writer is not in its group, as Linux does (since 6.2) on a local
// filesystem; root's writes keep them, and so does a set-group-ID bit
// without group execute written by a member of the group. Write-only
// handles go past the page cache, where the kernel leaves that to the
// filesystem; an O_TRUNC open always does. The modes are read with statx
// asking for the mode alone, which the kernel answers from its cache while
// that is valid: after a direct write only the daemon's notice refreshes it
// (an exec would otherwise still see the bits).
TEST_F(mount_fixture, WritesByOthersThanRootDropSetUserIdBits) {
  if (::geteuid() != 0) GTEST_SKIP() << "the daemon must run as root";
  auto daemon = mount("allow_other");
  ASSERT_EQ(::chmod(mnt.c_str(), 0777), 0);
  const auto mode_of = [](const fs::path& path) {
    struct statx st {};
    return ::statx(AT_FDCWD, path.c_str(), 0, STATX_MODE, &st) == 0 ? st.stx_mode & 07777u : 0u;
  };
  const auto make = [&](const char* name, mode_t mode, gid_t group = 0) {
    write_file(mnt / name, "before\n");
    EXPECT_EQ(::chown((mnt / name).c_str(), 0, group), 0);
    EXPECT_EQ(::chmod((mnt / name).c_str(), mode), 0);
    EXPECT_EQ(mode_of(mnt / name), mode);
  };
  const int root_dir = ::open(mnt.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(root_dir, 0);
  // Opened by nobody, relative to the mount's root (the test's directory
  // above it need not be open to nobody).
  const auto nobody_writes = [&](const char* name, int flags) {
    return as_nobody([&] {
      const int fd = ::openat(root_dir, name, flags);
      if (fd < 0) return false;
      const bool wrote = ::write(fd, "more\n", 5) == 5;
      return ::close(fd) == 0 && wrote;
    });
  };
  make("appended", 06777);
  EXPECT_EQ(nobody_writes("appended", O_WRONLY | O_APPEND), 0);
  EXPECT_EQ(mode_of(mnt / "appended"), 0777u);
  EXPECT_EQ(read_file(mnt / "appended"), "before\nmore\n");
  make("read-write", 06777);
  EXPECT_EQ(nobody_writes("read-write", O_RDWR), 0);
  EXPECT_EQ(mode_of(mnt / "read-write"), 0777u);
  make("truncated", 04777);
  EXPECT_EQ(as_nobody([&] {
              const int fd = ::openat(root_dir, "truncated", O_WRONLY | O_TRUNC);
              return fd >= 0 && ::close(fd) == 0;
            }),
            0);
  EXPECT_EQ(mode_of(mnt / "truncated"), 0777u);
  // Set-group-ID without group execute: dropped for a stranger to the
  // group, kept for a member (nobody's group is 65534).
  make("strangers", 02767);
  EXPECT_EQ(nobody_writes("strangers", O_WRONLY | O_APPEND), 0);
  EXPECT_EQ(mode_of(mnt / "strangers"), 0767u);
  make("members", 02767, 65534);
  EXPECT_EQ(nobody_writes("members", O_WRONLY | O_APPEND), 0);
  EXPECT_EQ(mode_of(mnt / "members"), 02767u);
  make("roots", 06755);
  write_file(mnt / "roots", "root writes\n");
  EXPECT_EQ(mode_of(mnt / "roots"), 06755u);
  ::close(root_dir);
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
}

}  // namespace
