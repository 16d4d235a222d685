#pragma once
// The mounted namespace and its operations, independent of how FUSE
// requests arrive: every operation returns a value or a positive errno.
//
// Locks, always taken in this order: the commit gate (shared by operations
// that change anything, exclusive for a commit, so a commit sees a still
// namespace), the table lock (shared to read the tree and attributes,
// exclusive to change the tree), an inode's data_mutex (its content and
// attributes while reading or writing them).
//
// Commit semantics are append-only, as the 7z format forces: a file changed
// after it was archived is archived again (the newest copy comes last, so
// extraction keeps it); a deleted archived file stays in the archive.
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include "commit_scheduler.hpp"
#include "daemon_options.hpp"
#include "daemon_stats.hpp"
#include "inode.hpp"

#include "archive/archive_appender.hpp"
#include "pool/chunk_pool.hpp"
#include "pool/staging_store.hpp"

#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <expected>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sevenzfs::fs {

template <typename T>
using result = std::expected<T, int>;

struct caller {
  uid_t uid = 0;
  gid_t gid = 0;
};

class filesystem {
 public:
  // Opens (or prepares to create) the archive and builds the namespace from
  // it; throws archive::archive_error when the archive cannot be used.
  explicit filesystem(const daemon_options& options);
  ~filesystem();
  filesystem(const filesystem&) = delete;
  filesystem& operator=(const filesystem&) = delete;

  result<fuse_entry_param> lookup(inode_number parent, std::string_view name);
  void forget(inode_number number, std::uint64_t count);
  result<struct stat> getattr(inode_number number);
  result<struct stat> setattr(inode_number number, const struct stat& attr, int to_set);
  result<std::string> readlink(inode_number number);
  result<fuse_entry_param> mknod(inode_number parent, std::string_view name, mode_t mode, const caller& who);
  result<fuse_entry_param> mkdir(inode_number parent, std::string_view name, mode_t mode, const caller& who);
  result<fuse_entry_param> symlink(std::string_view target, inode_number parent, std::string_view name,
                                   const caller& who);
  int unlink(inode_number parent, std::string_view name);
  int rmdir(inode_number parent, std::string_view name);
  int rename(inode_number parent, std::string_view name, inode_number new_parent, std::string_view new_name,
             unsigned flags);
  int link();
  result<fuse_entry_param> create(inode_number parent, std::string_view name, mode_t mode, int flags,
                                  const caller& who);
  int open(inode_number number, int flags);
  void release(inode_number number, int flags);
  result<std::size_t> read(inode_number number, char* buffer, std::size_t size, off_t offset);
  result<std::size_t> write(inode_number number, const char* data, std::size_t size, off_t offset);
  int fsync();
  // Fills `buffer` with entries after `offset` (fuse_add_direntry needs the request).
  result<std::size_t> readdir(fuse_req_t request, inode_number number, char* buffer, std::size_t size, off_t offset);
  struct statvfs statfs();
  int setxattr(inode_number number, std::string_view name, std::string_view value);
  // `size_probe`: the caller asks for the size first (getxattr with size 0);
  // the value it then reads is the one measured, so the pair agrees even
  // while statistics move.
  result<std::string> getxattr(inode_number number, std::string_view name, bool size_probe);
  result<std::string> listxattr(inode_number number);

  // Commits: the scheduler runs them on its thread while mounted; the last
  // one runs after the session loop ends. Return "" or the error.
  void start_commit_thread();
  void stop_commit_thread();
  std::string final_commit();
  bool has_changes() const;

 private:
  enum class commit_scope { closed_files, everything };
  std::string commit(commit_scope scope);
  std::string commit_locked(commit_scope scope);

  inode& node(inode_number number);  // table lock held; throws std::out_of_range
  // 0 if `name` can be created in directory `parent` (table lock held), else an errno.
  int check_new_entry(inode_number parent, std::string_view name);
  int remove_entry(inode_number parent, std::string_view name, bool directory);  // unlink and rmdir
  // Directory `parent` and its entry `name` (table lock held), or an errno.
  result<std::pair<inode*, inode*>> entry_in(inode_number parent, std::string_view name);
  inode* find(inode_number number);  // table lock held; nullptr if absent
  inode& add_node(node_kind kind, inode_number parent, std::string_view name, std::uint32_t permissions,
                  const caller& who);  // exclusive table lock held
  void attach(inode& dir, inode& child, const std::string& name);
  void detach(inode& dir, const std::string& name);
  void drop_if_unused(inode& n);  // exclusive table lock held
  fuse_entry_param entry_of(inode& n);
  struct stat stat_of(const inode& n) const;
  std::string path_of(const inode& n) const;
  void load_archive();
  std::vector<stat_value> stats();
  result<std::size_t> write_staged(inode_number number, const char* data, std::size_t size, off_t offset);
  bool spill_largest_open_file();

  void note_archive_figures();

  // Declared first: the compression progress callback in options_ points here.
  commit_progress progress_;
  daemon_options options_;
  archive::archive_appender archive_;
  pool::chunk_pool chunks_;
  pool::staging_store store_;

  mutable std::shared_mutex commit_gate_;
  mutable std::shared_mutex table_mutex_;
  std::unordered_map<inode_number, std::unique_ptr<inode>> inodes_;
  inode_number next_inode_ = kRootInode + 1;
  // The archive's view of every stream, by global substream index: names and
  // attributes as last seen, also for files deleted since.
  std::vector<archive::file_info> stream_files_;

  std::atomic<std::uint64_t> generation_{0};  // bumped by every change
  std::uint64_t committed_generation_ = 0;
  std::atomic<std::uint64_t> files_archived_{0};
  std::atomic<std::uint64_t> bytes_archived_{0};
  // Figures of the archive on disk, for stats without touching the database
  // a commit may be replacing.
  std::atomic<std::uint64_t> archive_file_bytes_{0};
  std::atomic<std::uint64_t> archive_packed_bytes_{0};
  std::atomic<std::uint64_t> archive_unpacked_bytes_{0};
  std::unique_ptr<commit_scheduler> scheduler_;

  struct probed_value {
    std::string value;
    std::chrono::steady_clock::time_point when;
  };
  std::mutex probed_mutex_;
  std::unordered_map<std::string, probed_value> probed_;  // root stats by name
};

}  // namespace sevenzfs::fs
