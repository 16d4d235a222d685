#pragma once
// What real readers find in an archive, compared with what it must hold:
// 7zz t, 7zz l (every path exactly once), 7zz x and bsdtar -x (exactly the
// expected tree, byte for byte), py7zr's testzip. Failures are reported as
// GoogleTest failures of the calling test.
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>

namespace sevenzfs::test {

struct expected_tree {
  std::map<std::string, std::string> files;  // path -> content
  std::set<std::string> directories;
};

// `py7zr`: false for methods py7zr cannot decode (PPMd without pyppmd).
void expect_readers_agree(const std::filesystem::path& archive, const expected_tree& tree, bool py7zr = true);

// Runs `commit` in a child process with the environment variable `variable`
// (a step-exit hook of archive_appender) set to `step`, so that it dies right
// after that step (exit status 99); returns once it is dead.
void crash_during(const std::string& variable, int step, const std::function<void()>& commit);

}  // namespace sevenzfs::test
