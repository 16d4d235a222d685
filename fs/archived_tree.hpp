#pragma once
// Turns an existing archive into the mounted tree: every entry becomes an
// inode (missing parent directories are made), a file's content refers to
// its archive stream. Every entry is shown — nothing an archive holds is
// hidden, so the next commit cannot drop it — but never outside the mount:
// names that are not plain relative paths lose their empty, "." and ".."
// components (an empty result is shown as "unnamed"); of two entries with
// one path, the later keeps it (extractors keep the last) and the earlier is
// shown as NAME_1.EXT; a directory keeps its name against a file. Each
// change is one log line, and the next commit stores the names shown.
#include "inode_table.hpp"
#include "log.hpp"

#include "archive/archive_snapshot.hpp"

#include <memory>

#include <string>
#include <string_view>

namespace sevenzfs::fs {

// Where the tree shows an entry of this name, before any clash with another
// entry's (the name with its empty, "." and ".." components dropped, long
// ones cut; "unnamed" when nothing is left).
std::string shown_path_of(const archive::file_info& file);

// Builds the tree from `snapshot` (null: no archive yet). Returns the number
// of entries not shown at their stored path.
std::size_t load_archived_tree(const std::shared_ptr<const archive::archive_snapshot>& snapshot, inode_table& inodes,
                               const caller& owner, logger& log);

}  // namespace sevenzfs::fs
