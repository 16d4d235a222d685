#pragma once
// The end-to-end tests of sevenzfs-ctl and the systemd notifications need
// the daemon side of issue 12 (the xattr contract: user.sevenzfs.version,
// the unmount control, READY/STOPPING notifications). Until the daemon on
// this branch has it, they skip with this reason instead of failing.
#include <gtest/gtest.h>

#include <sys/xattr.h>

#include <filesystem>

namespace sevenzfs::test {

inline bool daemon_has_contract(const std::filesystem::path& mountpoint) {
  return ::getxattr(mountpoint.c_str(), "user.sevenzfs.version", nullptr, 0) >= 0;
}

#define SEVENZFS_SKIP_UNLESS_CONTRACT(mountpoint)         \
  if (!::sevenzfs::test::daemon_has_contract(mountpoint)) \
  GTEST_SKIP() << "waits for the daemon side of issue 12: no user.sevenzfs.version on " << (mountpoint)

}  // namespace sevenzfs::test
