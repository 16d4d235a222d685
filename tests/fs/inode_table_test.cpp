// The inode table's walk, which orders sealed files for the compressor and
// staged files for a commit's folders.
#include "fs/inode_table.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace sevenzfs::fs;

// In pre-order, each directory's entries in the order they were made: the
// order `cp -r` closes files in, so that, read back in the order written, a
// solid folder decodes forward. Sibling directories used to come in reverse.
TEST(InodeTable, WalkGoesInPreOrderWithEachDirectorysEntriesInTheirOrder) {
  const caller root;
  inode_table table(root);
  const auto make = [&](inode_number parent, const char* name, node_kind kind) {
    auto made = table.create(parent, name, kind, 0755, root);
    EXPECT_TRUE(made.has_value()) << name;
    return made.has_value() ? (*made)->number : inode_number{0};
  };
  const auto a = make(kRootInode, "a", node_kind::directory);
  make(a, "a1", node_kind::file);
  const auto deep = make(a, "deep", node_kind::directory);
  make(deep, "d1", node_kind::file);
  make(a, "a2", node_kind::file);
  const auto b = make(kRootInode, "b", node_kind::directory);
  make(b, "b1", node_kind::file);
  const auto c = make(kRootInode, "c", node_kind::directory);
  make(c, "c1", node_kind::file);
  make(kRootInode, "top", node_kind::file);

  std::vector<std::string> walked;
  table.walk([&](const std::string& path, inode&) { walked.push_back(path); });
  EXPECT_EQ(walked,
            (std::vector<std::string>{"a", "a/a1", "a/deep", "a/deep/d1", "a/a2", "b", "b/b1", "c", "c/c1", "top"}));
}
