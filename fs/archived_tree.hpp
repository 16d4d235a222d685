#pragma once
// Turns an existing archive into the mounted tree: every entry becomes an
// inode (missing parent directories are made), a file's content refers to
// its archive stream. Later entries of the same path replace earlier ones
// (extractors keep the last). Entries the mount cannot show (a name that is
// not a plain relative path, a file where a directory is) are left out with
// one log line each; they stay in the archive.
#include "inode_table.hpp"
#include "log.hpp"

#include "archive/archive_snapshot.hpp"

#include <memory>

#include <string_view>

namespace sevenzfs::fs {

// Builds the tree from `snapshot` (null: no archive yet). Returns the number
// of entries left out.
std::size_t load_archived_tree(const std::shared_ptr<const archive::archive_snapshot>& snapshot, inode_table& inodes,
                               const caller& owner, logger& log);

}  // namespace sevenzfs::fs
