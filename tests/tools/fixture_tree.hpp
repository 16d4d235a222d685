#pragma once
// A generated tree with what archivers get wrong: odd names (spaces, accents,
// CJK, emoji, 255-byte names), deep paths, symlinks (relative, to a directory,
// dangling), empty files and directories, unusual permissions, fixed mtimes,
// compressible and incompressible contents. And a comparison of two trees.
#include <filesystem>
#include <string>
#include <vector>

namespace sevenzfs::test {

struct fixture_options {
  bool non_bmp_names = true;  // Debian's py7zr 0.11 cannot read names outside the BMP
};

void make_fixture_tree(const std::filesystem::path& root, const fixture_options& options = {});

// Differences between `expected` and `actual` (names, types, contents,
// permission bits, mtimes to the second, symlink targets); empty when equal.
std::vector<std::string> compare_trees(const std::filesystem::path& expected, const std::filesystem::path& actual);

}  // namespace sevenzfs::test
