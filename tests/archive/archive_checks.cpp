#include "archive/archive_checks.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <vector>

namespace fs = std::filesystem;

namespace sevenzfs::test {

namespace {

// The paths `7zz l -slt` lists, in its order (duplicates kept).
std::vector<std::string> listed_paths(const fs::path& archive) {
  const auto listed = run("7zz l -slt " + quote(archive.string()));
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  std::vector<std::string> paths;
  std::istringstream lines(listed.output);
  bool entries = false;
  for (std::string line; std::getline(lines, line);) {
    if (line == "----------") entries = true;
    if (entries && line.starts_with("Path = ")) paths.push_back(line.substr(7));
  }
  return paths;
}

// Compares what an extractor wrote under `root` with the expected tree.
void expect_extracted(const fs::path& root, const expected_tree& tree, const std::string& reader) {
  std::map<std::string, std::string> files;
  std::set<std::string> directories;
  for (const auto& item : fs::recursive_directory_iterator(root)) {
    const std::string relative = fs::relative(item.path(), root).string();
    if (item.is_directory()) {
      directories.insert(relative);
    } else {
      files[relative] = read_file(item.path());
    }
  }
  // Parents of files are created even when the archive does not list them.
  std::set<std::string> expected_directories = tree.directories;
  for (const auto& [path, content] : tree.files) {
    for (fs::path parent = fs::path(path).parent_path(); !parent.empty(); parent = parent.parent_path()) {
      expected_directories.insert(parent.string());
    }
  }
  EXPECT_EQ(directories, expected_directories) << reader;
  EXPECT_EQ(files.size(), tree.files.size()) << reader;
  for (const auto& [path, content] : tree.files) {
    const auto found = files.find(path);
    if (found == files.end()) {
      ADD_FAILURE() << reader << " did not extract " << path;
    } else {
      EXPECT_TRUE(found->second == content) << reader << " extracted " << path << " with other content ("
                                            << found->second.size() << " bytes, expected " << content.size() << ")";
    }
  }
}

}  // namespace

void expect_readers_agree(const fs::path& archive, const expected_tree& tree, bool py7zr) {
  const std::string name = quote(archive.string());
  const auto tested = run("7zz t " + name);
  EXPECT_EQ(tested.exit_code, 0) << tested.output;
  EXPECT_EQ(tested.output.find("There are data after the end"), std::string::npos) << tested.output;

  std::multiset<std::string> expected_paths(tree.directories.begin(), tree.directories.end());
  for (const auto& [path, content] : tree.files) expected_paths.insert(path);
  const auto listed = listed_paths(archive);
  EXPECT_EQ(std::multiset<std::string>(listed.begin(), listed.end()), expected_paths) << "7zz l";

  temp_dir by_7zz;
  const auto x = run("7zz x -y -o" + quote(by_7zz.path().string()) + " " + name);
  EXPECT_EQ(x.exit_code, 0) << x.output;
  expect_extracted(by_7zz.path(), tree, "7zz x");

  temp_dir by_bsdtar;
  const auto tar = run("bsdtar -x -C " + quote(by_bsdtar.path().string()) + " -f " + name);
  EXPECT_EQ(tar.exit_code, 0) << tar.output;
  expect_extracted(by_bsdtar.path(), tree, "bsdtar -x");

  if (!py7zr) return;
  const auto py =
      run("/usr/bin/python3 -c 'import py7zr,sys; a=py7zr.SevenZipFile(sys.argv[1]); print(a.testzip())' " + name);
  EXPECT_EQ(py.output, "None\n") << "py7zr testzip";
}

void crash_during(const std::string& variable, int step, const std::function<void()>& commit) {
  const pid_t child = ::fork();
  if (child == 0) {
    ::setenv(variable.c_str(), std::to_string(step).c_str(), 1);
    commit();
    ::_exit(0);  // not reached
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 99) << "the child did not stop at step " << step;
}

}  // namespace sevenzfs::test
