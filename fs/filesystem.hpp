#pragma once
// The mounted filesystem as the FUSE callbacks see it: one method per
// operation, each a short coordination of the parts that do the work —
// the inode_table (the tree), file_content (a file's bytes), the committer
// (archive commits), stats_xattr (the xattr interface). Knows nothing of how
// requests arrive: no FUSE types here. Every method returns a result (see
// result.hpp); the lock order is written at the top of inode_table.hpp.
#include "commit_scheduler.hpp"
#include "committer.hpp"
#include "daemon_options.hpp"
#include "file_content.hpp"
#include "inode_table.hpp"
#include "log.hpp"
#include "recovery.hpp"
#include "result.hpp"
#include "sealer.hpp"
#include "stats_xattr.hpp"
#include "streamer.hpp"

#include "archive/cached_reader.hpp"
#include "pool/chunk_pool.hpp"
#include "pool/staging_store.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sevenzfs::fs {

// What a setattr changes; unset fields stay as they are.
struct attribute_changes {
  std::optional<std::uint64_t> size;
  std::optional<std::uint32_t> permissions;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::optional<std::timespec> atime;
  std::optional<std::timespec> mtime;
};

class filesystem {
 public:
  // Opens (or prepares to create) the archive and builds the tree from it;
  // throws archive::archive_error when the archive cannot be used. `lock`
  // (the daemon's, if any) follows the archive when a commit makes it anew.
  filesystem(const daemon_options& options, logger& log, archive_lock* lock = nullptr);
  ~filesystem();
  filesystem(const filesystem&) = delete;
  filesystem& operator=(const filesystem&) = delete;

  // Methods returning an entry's attributes add a kernel reference to it.
  result<struct stat> lookup(inode_number parent, std::string_view name);
  void forget(inode_number number, std::uint64_t count);
  result<struct stat> getattr(inode_number number);
  result<struct stat> setattr(inode_number number, const attribute_changes& changes);
  // fallocate(2): mode 0 extends the file to offset + length (its new bytes
  // read as zeros); FALLOC_FL_KEEP_SIZE alone does nothing. Nothing is
  // reserved: staged bytes take pool memory when written, packed bytes disk
  // space at the commit. Hole punching and the other modes: EOPNOTSUPP.
  result<void> allocate(inode_number number, int mode, std::uint64_t offset, std::uint64_t length);
  result<std::string> readlink(inode_number number);
  result<struct stat> mknod(inode_number parent, std::string_view name, mode_t mode, const caller& who);
  result<struct stat> mkdir(inode_number parent, std::string_view name, mode_t mode, const caller& who);
  result<struct stat> symlink(std::string_view target, inode_number parent, std::string_view name, const caller& who);
  result<struct stat> create(inode_number parent, std::string_view name, mode_t mode, int flags, const caller& who);
  result<void> unlink(inode_number parent, std::string_view name);
  result<void> rmdir(inode_number parent, std::string_view name);
  result<void> rename(inode_number parent, std::string_view name, inode_number new_parent, std::string_view new_name,
                      unsigned flags);
  // EPERM; the log says why once per mount (git tries a link per object
  // before it renames: hundreds of lines for one commit).
  result<void> link();
  // `who`: a write, or an open with O_TRUNC, by anyone but root clears the
  // file's set-user-ID and set-group-ID bits (clear_privileges).
  result<void> open(inode_number number, int flags, const caller& who = {});
  void release(inode_number number, int flags);
  result<std::size_t> read(inode_number number, std::span<std::byte> out, off_t offset);
  result<std::size_t> write(inode_number number, std::span<const std::byte> data, off_t offset, const caller& who = {});
  // Returns when everything written so far, open files too, is in the
  // archive: a flush (the xattr, SIGUSR1), and an unmount's control.
  result<void> commit_everything();
  // Returns when the file, as written so far, is in the archive (with what
  // else a commit takes without compressing it: see commit_scope).
  result<void> fsync_file(inode_number number);
  // Returns when the directory's entries are in the archive: its new files'
  // bytes too, as written so far, and the last committed copy of the others.
  result<void> fsync_directory(inode_number number);
  // Commits everything, then leaves the archive without dead bytes.
  result<void> compact();
  result<void> readdir(inode_number number, off_t offset, const inode_table::directory_sink& add);
  struct statvfs statfs();
  result<void> setxattr(inode_number number, std::string_view name, std::string_view value, const caller& who) {
    return xattrs_.set(number, name, value, who);
  }
  result<std::string> getxattr(inode_number number, std::string_view name, bool size_probe) {
    return xattrs_.get(number, name, size_probe);
  }
  result<std::string> listxattr(inode_number number) { return xattrs_.list(number); }
  result<void> removexattr(inode_number number, std::string_view name) { return xattrs_.remove(number, name); }

  // Starts the threads: streaming compression and the commit scheduler's
  // (commits run on it while mounted; the last one runs after the session
  // loop has ended). Until then commits compress everything themselves.
  void start_threads();
  // What the unmount control does once everything is committed (the daemon
  // detaches the mount; the session loop then ends).
  void on_unmount_request(std::function<result<void>()> detach) { detach_ = std::move(detach); }
  // Called (outside any lock) when a write dropped a file's set-user-ID or
  // set-group-ID bits: the kernel's cached mode is stale then (a direct
  // write does not refresh it), and an exec must not run with the old one.
  void on_privileges_dropped(std::function<void(inode_number)> notify) { privileges_dropped_ = std::move(notify); }
  result<void> final_commit();
  // After a failed final commit: what it would have written, into the
  // recovery archive beside the archive (recovery.hpp).
  result<saved_changes> save_for_recovery();
  const commit_figures& figures() const noexcept { return committer_.figures(); }
  // One line for a service manager's status (cheap: no scan of the tree).
  std::string status_text() const;
  bool keeps_kernel_cache() const noexcept { return options_.kernel_cache; }
  logger& log() noexcept { return log_; }

 private:
  // The change gate, held by every operation that changes anything; EROFS
  // once the unmount control has begun its final commit.
  result<std::shared_lock<std::shared_mutex>> begin_change();
  result<void> unmount_control();
  tree_figures figures_of_tree();
  result<struct stat> add_entry(inode_number parent, std::string_view name, node_kind kind, std::uint32_t permissions,
                                const caller& who, const std::function<void(inode&)>& init = {});
  result<std::size_t> write_some(inode_number number, std::span<const std::byte> data, off_t offset, const caller& who);
  result<void> commit_and_wait(const commit_scope& scope);
  result<void> commit_closed_files();
  // `last`: nothing is written after it (the final commit).
  result<void> commit(const commit_scope& scope, bool last = false);
  void finish_folders_of(const std::vector<inode_number>& files);
  void resume_streaming();
  bool spill_largest_open_file();
  result<std::optional<std::string>> file_state(inode_number number);
  void content_changing(inode& node);
  std::unexpected<fs_error> about(const inode& node, fs_error error) const;

  logger& log_;
  daemon_options options_;
  pool::chunk_pool chunks_;
  pool::staging_store store_;
  archive::cached_reader reader_;
  content_services content_;
  inode_table inodes_;   // before committer_: it refers to the tree
  streamer streamer_;    // before committer_, after the store whose bytes it compresses
  committer committer_;  // opens the archive
  sealer sealer_;
  stats_xattr xattrs_;
  std::unique_ptr<commit_scheduler> scheduler_;
  std::function<result<void>()> detach_;
  std::function<void(inode_number)> privileges_dropped_;
  std::atomic<bool> closing_{false};
  std::atomic<bool> link_refusal_logged_{false};

  std::mutex tree_figures_mutex_;
  tree_figures tree_figures_;
  std::optional<std::pair<std::uint64_t, std::uint64_t>> tree_figures_key_;  // (generation, commits)
};

}  // namespace sevenzfs::fs
