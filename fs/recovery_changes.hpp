#pragma once
// What the mounted tree holds that the last commit does not: what a
// recovery archive (recovery.hpp) and its removals (recovery_removals.hpp)
// must keep after a failed final commit.
#include "file_content.hpp"
#include "inode_table.hpp"

#include "archive/archive_snapshot.hpp"
#include "archive/entry.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sevenzfs::fs {

// What the tree holds that the archive does not.
struct uncommitted {
  std::vector<archive::entry> without_data;
  std::vector<archive::entry> changed;   // content changed in this session
  std::vector<archive::entry> appended;  // the same, begun after an archived start (read back from the archive)
  std::vector<archive::entry> copied;    // archived content under a new name, mode or time
  // The archived streams of `appended` and `copied` (where the archive holds
  // them): a save that leaves those files out must leave the paths of these
  // streams in the archive, or their content would be lost.
  std::vector<std::optional<std::uint64_t>> appended_streams;
  std::vector<std::optional<std::uint64_t>> copied_streams;
  // Archived paths the tree no longer shows (removed, or renamed away), in
  // order, with the streams of the archive's entries at each.
  struct removed_path {
    std::string path;
    std::vector<std::uint64_t> streams;
  };
  std::vector<removed_path> removed;
};

std::uint64_t bytes_of(const std::vector<archive::entry>& entries);

// Walks the tree against `archived`, the archive as last committed (null:
// none). Contents are read later, when the recovery archive is written.
uncommitted collect_uncommitted(inode_table& inodes, const content_services& content,
                                const std::shared_ptr<const archive::archive_snapshot>& archived);

// The paths a recovery archive with the copied and appended files marked
// in `with_copied` and `with_appended` removes: all the tree no longer shows
// but those where a file left out keeps its content (renamed, then left
// out: it keeps its old name), and the directories above them.
std::vector<std::string> removals_of(const uncommitted& found, const std::vector<bool>& with_copied,
                                     const std::vector<bool>& with_appended);

}  // namespace sevenzfs::fs
