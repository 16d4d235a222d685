#include "commit_scope.hpp"

#include <algorithm>

namespace sevenzfs::fs {

commit_scope commit_scope::of(std::vector<inode_number> files) {
  std::ranges::sort(files);
  const auto duplicates = std::ranges::unique(files);
  files.erase(duplicates.begin(), duplicates.end());
  return {breadth::listed, std::move(files)};
}

bool commit_scope::lists(inode_number number) const { return std::ranges::binary_search(listed, number); }

void commit_scope::merge(const commit_scope& other) {
  reach = std::max(reach, other.reach);
  std::vector<inode_number> both;
  both.reserve(listed.size() + other.listed.size());
  std::ranges::set_union(listed, other.listed, std::back_inserter(both));
  listed = std::move(both);
}

}  // namespace sevenzfs::fs
