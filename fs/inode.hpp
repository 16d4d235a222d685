#pragma once
// One node of the mounted namespace. The inode_table owns inodes; its lock
// guards the tree (parent, name, children), and `mutex` guards the node's
// attributes and content.
#include "cookie_list.hpp"
#include "file_content.hpp"

#include "archive/entry.hpp"

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sevenzfs::fs {

using inode_number = std::uint64_t;
inline constexpr inode_number kRootInode = 1;

// The largest write taken in one request (FUSE's max_write), and every
// node's st_blksize: cp and others size their buffers by it, so a large file
// arrives in requests of this size instead of 128 KiB ones, each of which
// the kernel precedes with a GETXATTR of security.capability unless the
// handle is write-only (`cp` of a 10 MB file through a read-write handle:
// 20 requests instead of 154; see fuse_operations.cpp).
inline constexpr std::uint32_t kIoBytes = 1 << 20;

// What a node is: what 7z can hold (a directory, a file, a symlink).
using node_kind = archive::entry_kind;

// Who asks: the caller of an operation, and the owner of a new node.
struct caller {
  uid_t uid = 0;
  gid_t gid = 0;
  // Whether `group` is among the caller's supplementary groups, asked only
  // when needed (the FUSE layer reads them from /proc); none if unset.
  std::function<bool(gid_t group)> in_supplementary_group;

  bool belongs_to(gid_t group) const {
    return group == gid || (in_supplementary_group && in_supplementary_group(group));
  }
};

// A directory's entries: by name, and by a cookie that only grows, so that
// readdir offsets stay valid while entries are added and removed.
struct directory_entries {
  struct child {
    inode_number number;
    std::uint64_t cookie;
  };
  // Keyed by views of the children's own names (inode::name, which changes
  // only while the child is detached): a copy of every name, 32 bytes and
  // usually a heap block, is what a million files would hold twice.
  std::unordered_map<std::string_view, child> by_name;
  cookie_list in_order;
  std::uint64_t next_cookie = 1;
  std::uint32_t subdirectories = 0;
};

struct inode {
  inode_number number = 0;
  node_kind kind = node_kind::file;
  std::uint32_t permissions = 0644;  // 07777 bits
  uid_t uid = 0;
  gid_t gid = 0;
  std::timespec atime{};
  std::timespec mtime{};
  std::timespec ctime{};

  inode_number parent = 0;  // 0: unlinked (or the root)
  std::string name;
  std::unique_ptr<directory_entries> entries;  // directories only

  file_content content;       // regular files and symlinks
  std::uint32_t writers = 0;  // open handles with write access
  std::uint64_t write_opens = 0;  // opens with write access so far: tells a settled file from a reopened one
  // The change generation (committer::generation) from which `content` is
  // dirty: a commit that began before it leaves the file to the next one.
  std::uint64_t dirty_since = 0;
  // Changes of `content` so far: tells a commit whether the file changed
  // after its snapshot.
  std::uint64_t content_changes = 0;

  std::atomic<std::uint64_t> lookups{0};  // kernel references (lookup/create minus forget)
  std::mutex mutex;

  bool is_directory() const noexcept { return kind == node_kind::directory; }
  std::uint64_t size() const noexcept { return is_directory() ? 0 : content.size(); }
};

}  // namespace sevenzfs::fs
