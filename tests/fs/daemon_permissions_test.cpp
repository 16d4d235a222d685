// Who checks modes on a mount: the kernel (default_permissions) whenever
// anyone but root may enter; root's own mount leaves them to root, who passes
// them anyway, except that no one executes a file with no x bit (and
// access(2) says so).
#include "mount_fixture.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <cerrno>
#include <unistd.h>

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

}  // namespace
