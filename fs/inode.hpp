#pragma once
// One node of the mounted namespace. The filesystem's table owns inodes; the
// table lock guards the tree (parent, name, children) and attributes, and
// `data_mutex` serializes content operations on one file.
#include "spill_file.hpp"

#include "pool/staging_store.hpp"

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace sevenzfs::fs {

using inode_number = std::uint64_t;
inline constexpr inode_number kRootInode = 1;

enum class node_kind { directory, regular, symlink };

struct inode {
  inode_number number = 0;
  node_kind kind = node_kind::regular;
  std::uint32_t permissions = 0644;  // 07777 bits
  uid_t uid = 0;
  gid_t gid = 0;
  std::timespec atime{};
  std::timespec mtime{};
  std::timespec ctime{};

  inode_number parent = 0;  // 0: unlinked (or the root)
  std::string name;

  // Directories: children by name, and by a cookie that only grows, so that
  // readdir offsets stay valid while entries are added and removed.
  struct child {
    inode_number number;
    std::uint64_t cookie;
  };
  std::unordered_map<std::string, child> children;
  std::map<std::uint64_t, std::string> children_by_cookie;
  std::uint64_t next_cookie = 1;
  std::uint32_t subdirectories = 0;

  // Regular files and symlinks. Content since the last commit is staged;
  // content committed earlier is a stream of the archive.
  std::optional<pool::staged_file> staged;
  // A file that outgrew the pool while open for writing keeps its content
  // here instead of `staged` until it is committed.
  std::optional<spill_file> spill;
  std::uint64_t spill_size = 0;
  std::optional<std::uint64_t> stream;  // global substream index in the archive
  std::uint64_t archived_size = 0;
  std::string link_target;
  std::uint32_t writers = 0;  // open handles with write access
  bool dirty = false;         // staged content not yet committed

  std::atomic<std::uint64_t> lookups{0};  // kernel references (lookup/create minus forget)
  std::mutex data_mutex;

  std::uint64_t size() const noexcept {
    if (kind == node_kind::symlink) return link_target.size();
    if (kind == node_kind::directory) return 0;
    if (spill) return spill_size;
    return staged ? staged->size() : archived_size;
  }
  // Archived content that is not staged cannot be read back yet.
  bool content_is_archived_only() const noexcept {
    return kind == node_kind::regular && !staged && !spill && stream.has_value();
  }
};

}  // namespace sevenzfs::fs
