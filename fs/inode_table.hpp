#pragma once
// The mounted tree: every inode by number, directories' entries, paths and
// attributes, and the rules of changing the tree (names, ENOTEMPTY, moving a
// directory below itself, RENAME_NOREPLACE and
// RENAME_EXCHANGE). Knows nothing of FUSE, of the
// archive or of commits.
//
// Locks, always taken in this order: the committer's commit mutex (one
// commit at a time), its change gate (held by the
// caller around anything that changes the namespace or content), the table
// lock (shared to read the tree, exclusive to change it), an inode's mutex
// (its attributes and content).
#include "inode.hpp"
#include "result.hpp"

#include <sys/stat.h>

#include <functional>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sevenzfs::fs {

std::timespec current_time() noexcept;

// Whether `name` can be a directory entry the archive can store: not empty,
// ".", ".." or containing '/' (EINVAL), at most 255 bytes (ENAMETOOLONG),
// valid UTF-8 (EILSEQ, with a message).
result<void> check_entry_name(std::string_view name);

// Counts over the whole tree, for the statistics.
struct tree_figures {
  std::uint64_t files = 0;  // regular files and symlinks
  std::uint64_t directories = 0;
  std::uint64_t files_under_16k = 0;
  std::uint64_t files_under_1m = 0;
  std::uint64_t files_1m_or_more = 0;
  std::uint64_t staged_files = 0;  // content not yet committed
  std::uint64_t staged_bytes = 0;
};

class inode_table {
 public:
  explicit inode_table(caller owner);
  inode_table(const inode_table&) = delete;
  inode_table& operator=(const inode_table&) = delete;

  // A node held with its own lock, found under the shared table lock (so it
  // cannot be erased meanwhile).
  class locked_node {
   public:
    inode* operator->() const noexcept { return node_; }
    inode& operator*() const noexcept { return *node_; }

   private:
    friend class inode_table;
    locked_node(std::shared_lock<std::shared_mutex> table, inode& node)
        : table_(std::move(table)), node_(&node), data_(node.mutex) {}
    std::shared_lock<std::shared_mutex> table_;
    inode* node_;
    std::unique_lock<std::mutex> data_;
  };
  result<locked_node> lock(inode_number number);

  // Adds a kernel reference to `node` (for a reply carrying its entry) and
  // returns its attributes.
  struct stat reference(inode& node);
  result<struct stat> lookup(inode_number parent, std::string_view name);
  // The kernel dropped `count` references; an unlinked node nobody uses goes.
  void forget(inode_number number, std::uint64_t count);
  // A handle was closed: an unlinked node nobody uses goes.
  void drop_if_unused(inode_number number);

  // Creates `name` in directory `parent`; `init` fills the new node (content,
  // link target) before anyone else can see it.
  result<inode*> create(inode_number parent, std::string_view name, node_kind kind, std::uint32_t permissions,
                        const caller& owner, const std::function<void(inode&)>& init = {});
  // unlink (directory = false) and rmdir (directory = true).
  result<void> remove(inode_number parent, std::string_view name, bool directory);
  result<void> rename(inode_number parent, std::string_view name, inode_number new_parent, std::string_view new_name,
                      unsigned flags);

  // Calls `add(name, stat with st_ino and type, next offset)` for the
  // entries of `directory` after `offset` until it returns false.
  using directory_sink = std::function<bool(std::string_view name, const struct stat& st, off_t next)>;
  result<void> list(inode_number directory, off_t offset, const directory_sink& add);

  struct stat stat_of(const inode& node) const;  // the node's lock held
  std::string path_of(const inode& node) const;  // the table lock held (shared is enough)
  std::size_t node_count() const;
  // Scans the tree (shared lock; each node's lock in turn).
  tree_figures figures();

  // Under the shared table lock: calls `visit(path, node)` for every node
  // below the root, in pre-order (a directory, then what it holds, then its
  // next sibling), each directory's entries in their order. The committer
  // locks each node.
  void walk(const std::function<void(const std::string& path, inode& node)>& visit);
  // Under the shared table lock: calls `visit(node)` for every node.
  void for_each(const std::function<void(inode& node)>& visit);

  // Loading an archive (before the mount serves requests): the entry `name`
  // of `parent`, or nullptr.
  inode* child(inode_number parent, std::string_view name);
  inode& root() { return *nodes_.at(kRootInode); }

 private:
  inode* find(inode_number number) const;  // the table lock held
  // `name` may be the child's own (attach copies it first).
  void attach(inode& directory, inode& child, std::string_view name);
  void detach(inode& directory, std::string_view name);
  void erase_if_unused(inode& node);  // exclusive table lock held
  // Whether a removal or replacement may drop `node`'s archived copy (see
  // file_content::replaceable); the table lock held.
  result<void> may_drop(inode& node) const;
  // `node` is `directory` or lies below it (the table lock held).
  bool is_within(const inode& node, const inode& directory) const;
  result<void> exchange(inode& from, inode& moving, inode& to, const std::string& target_name);
  result<std::pair<inode*, inode*>> entry(inode_number parent, std::string_view name) const;

  mutable std::shared_mutex mutex_;
  std::unordered_map<inode_number, std::unique_ptr<inode>> nodes_;
  inode_number next_number_ = kRootInode + 1;
};

}  // namespace sevenzfs::fs
