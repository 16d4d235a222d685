#pragma once
// The fixture of the end-to-end tests: a temporary directory with an archive
// path, a mountpoint and a daemon log; mounting; and small helpers.
#include "daemon_process.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace sevenzfs::test {

struct mount_fixture : testing::Test {
  temp_dir dir;
  std::filesystem::path archive = dir / "archive.7z";
  std::filesystem::path mnt = dir / "mnt";
  std::filesystem::path log = dir / "daemon.log";

  void SetUp() override;
  // Starts the daemon in the foreground and waits for the mount.
  std::unique_ptr<daemon_process> mount(const std::string& options = "");
  // 7zz x of the archive into dir/where; returns 7zz's output.
  std::string extract_all(const std::string& where);
};

std::string join(const std::vector<std::string>& lines);
// The value of xattr `name` of `path`, or "<errno N>".
std::string xattr(const std::filesystem::path& path, const std::string& name);

}  // namespace sevenzfs::test
