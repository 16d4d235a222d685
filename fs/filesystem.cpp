#include "filesystem.hpp"

#include "archived_tree.hpp"

#include "archive/file_attributes.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace sevenzfs::fs {

namespace {

constexpr std::uint64_t kStatfsFreeInodes = 1'000'000'000;

bool opens_for_writing(int flags) { return (flags & O_ACCMODE) != O_RDONLY; }

// Clears the set-user-ID bit, and the set-group-ID bit if the group may
// execute the file or the caller is not in its group (without group
// execute it marks locking, not privilege), as Linux does on a write or
// truncate by a process without CAP_FSETID (setattr_should_drop_suidgid);
// here: by anyone but root, which stands in for that capability. FUSE
// leaves it to the filesystem on an open with O_TRUNC (atomic there) and on
// write-only handles (direct I/O, see fuse_operations.cpp); on the others
// the kernel has done it already. Returns whether the bits changed.
bool clear_privileges(inode& node, const caller& who) {
  if (who.uid == 0 || node.kind != node_kind::file) return false;
  std::uint32_t kept = node.permissions & ~static_cast<std::uint32_t>(S_ISUID);
  if ((kept & S_ISGID) != 0 && ((kept & S_IXGRP) != 0 || !who.belongs_to(node.gid))) {
    kept &= ~static_cast<std::uint32_t>(S_ISGID);
  }
  if (kept == node.permissions) return false;
  node.permissions = kept;
  return true;
}

// Who owns the root and every archived entry (7z stores no owners).
caller mount_owner(const daemon_options& options) {
  return {options.uid.value_or(::getuid()), options.gid.value_or(::getgid()), {}};
}

}  // namespace

filesystem::filesystem(const daemon_options& options, logger& log, archive_lock* lock)
    : log_(log),
      options_(options),
      chunks_(options.pool_bytes, pool::kStagingChunkBytes),
      store_(chunks_),
      reader_({.cache_bytes = options.cache_bytes, .block_size = 1 << 20, .decoders = {}}),
      content_{store_, reader_, options.archive_path, [this](archive::pending_id id) { return streamer_.locate(id); },
               options.write.compression.level},
      inodes_(mount_owner(options)),
      streamer_(options.archive_path, daemon_write_options(options), log_),
      committer_(options_, inodes_, content_, streamer_, log_, lock),
      sealer_(inodes_, committer_, streamer_, content_, chunks_, sealer::timing::of(options_), log_),
      xattrs_(
          {chunks_, reader_, committer_.figures(), streamer_, options_, ::getuid(), std::chrono::steady_clock::now()},
          {.flush = [this] { return commit_everything(); },
           .compact = [this] { return compact(); },
           .unmount = [this] { return unmount_control(); },
           .file_state = [this](inode_number number) { return file_state(number); },
           .tree = [this] { return figures_of_tree(); }}) {
  load_archived_tree(committer_.archive().snapshot(), inodes_, mount_owner(options), log_);
}

filesystem::~filesystem() {
  if (scheduler_) scheduler_->stop();
  sealer_.stop();
  streamer_.stop();  // its workers ask the sealer how many may compress: they end first
}

result<std::shared_lock<std::shared_mutex>> filesystem::begin_change() {
  auto gate = committer_.change_gate();
  // Checked under the gate: the unmount control sets it before its commit
  // takes the gate, so nothing that passes here is missed by that commit.
  // (On a read-only mount the kernel refuses changes before they come here.)
  if (closing_.load() || options_.read_only) return failure(EROFS);
  return gate;
}

// `node` (locked) is about to change its content: a commit that began
// before this leaves it to the next one, and one that took the file before
// does not mark it committed (committer.hpp).
void filesystem::content_changing(inode& node) {
  if (!node.content.dirty()) node.dirty_since = committer_.generation() + 1;
  ++node.content_changes;
}

// A failure about `node`: its message (if any) names the node's path.
std::unexpected<fs_error> filesystem::about(const inode& node, fs_error error) const {
  if (!error.message.empty()) error.message = fmt::format("{}: {}", inodes_.path_of(node), error.message);
  return std::unexpected(std::move(error));
}

// ---- the tree ----------------------------------------------------------------

result<struct stat> filesystem::lookup(inode_number parent, std::string_view name) {
  return inodes_.lookup(parent, name);
}

void filesystem::forget(inode_number number, std::uint64_t count) { inodes_.forget(number, count); }

result<struct stat> filesystem::getattr(inode_number number) {
  auto node = inodes_.lock(number);
  if (!node) return std::unexpected(node.error());
  return inodes_.stat_of(**node);
}

result<struct stat> filesystem::setattr(inode_number number, const attribute_changes& changes) {
  auto gate = begin_change();
  if (!gate) return std::unexpected(gate.error());
  auto node = inodes_.lock(number);
  if (!node) return std::unexpected(node.error());
  inode& n = **node;
  if (changes.size) {
    if (n.kind != node_kind::file) return failure(n.is_directory() ? EISDIR : EINVAL);
    content_changing(n);
    if (auto done = n.content.truncate(content_, *changes.size); !done) return about(n, done.error());
    n.mtime = current_time();
  }
  if (changes.permissions) n.permissions = *changes.permissions & 07777;
  if (changes.uid) n.uid = *changes.uid;
  if (changes.gid) n.gid = *changes.gid;
  if (changes.atime) n.atime = *changes.atime;
  // A time 7z cannot hold would be stored as none (pre-1601) or wrapped.
  if (changes.mtime) n.mtime = archive::nearest_filetime(*changes.mtime);
  n.ctime = current_time();
  committer_.changed();
  return inodes_.stat_of(n);
}

result<void> filesystem::allocate(inode_number number, int mode, std::uint64_t offset, std::uint64_t length) {
  if ((mode & ~FALLOC_FL_KEEP_SIZE) != 0) return failure(EOPNOTSUPP);
  std::uint64_t end = 0;
  if (__builtin_add_overflow(offset, length, &end) || end > static_cast<std::uint64_t>(INT64_MAX)) {
    return failure(EFBIG);
  }
  auto gate = begin_change();
  if (!gate) return std::unexpected(gate.error());
  auto node = inodes_.lock(number);
  if (!node) return std::unexpected(node.error());
  inode& n = **node;
  if (n.kind != node_kind::file) return failure(n.is_directory() ? EISDIR : ENODEV);
  if ((mode & FALLOC_FL_KEEP_SIZE) != 0 || end <= n.size()) return {};
  content_changing(n);
  if (auto done = n.content.truncate(content_, end); !done) return about(n, done.error());
  n.mtime = current_time();
  n.ctime = n.mtime;
  committer_.changed();
  return {};
}

result<std::string> filesystem::readlink(inode_number number) {
  auto node = inodes_.lock(number);
  if (!node) return std::unexpected(node.error());
  if ((*node)->kind != node_kind::symlink) return failure(EINVAL);
  std::string target(static_cast<std::size_t>((*node)->size()), '\0');
  auto read = (*node)->content.read(content_, 0, std::as_writable_bytes(std::span(target)));
  if (!read) return about(**node, read.error());
  target.resize(*read);
  return target;
}

result<struct stat> filesystem::add_entry(inode_number parent, std::string_view name, node_kind kind,
                                          std::uint32_t permissions, const caller& who,
                                          const std::function<void(inode&)>& init) {
  auto gate = begin_change();
  if (!gate) return std::unexpected(gate.error());
  auto made = inodes_.create(parent, name, kind, permissions, who, init);
  if (!made) return std::unexpected(made.error());
  committer_.changed();
  return inodes_.reference(**made);
}

result<struct stat> filesystem::mknod(inode_number parent, std::string_view name, mode_t mode, const caller& who) {
  if (!S_ISREG(mode))
    return failure(EPERM, fmt::format("mknod of '{}' refused: 7z stores no device nodes, FIFOs or sockets", name));
  return create(parent, name, mode, O_RDONLY, who);  // created, not opened: no writer
}

result<struct stat> filesystem::mkdir(inode_number parent, std::string_view name, mode_t mode, const caller& who) {
  return add_entry(parent, name, node_kind::directory, mode, who);
}

result<struct stat> filesystem::symlink(std::string_view target, inode_number parent, std::string_view name,
                                        const caller& who) {
  return add_entry(parent, name, node_kind::symlink, 0777, who, [&](inode& node) {
    content_changing(node);
    node.content.hold(std::string(target));
  });
}

result<struct stat> filesystem::create(inode_number parent, std::string_view name, mode_t mode, int flags,
                                       const caller& who) {
  return add_entry(parent, name, node_kind::file, mode, who, [&](inode& node) {
    content_changing(node);
    (void)node.content.truncate(content_, 0);  // staged and changed: committed even if never written
    if (opens_for_writing(flags)) {
      ++node.writers;
      ++node.write_opens;
    }
  });
}

result<void> filesystem::unlink(inode_number parent, std::string_view name) {
  auto gate = begin_change();
  if (!gate) return std::unexpected(gate.error());
  auto removed = inodes_.remove(parent, name, false);
  if (removed) committer_.changed();
  return removed;
}

result<void> filesystem::rmdir(inode_number parent, std::string_view name) {
  auto gate = begin_change();
  if (!gate) return std::unexpected(gate.error());
  auto removed = inodes_.remove(parent, name, true);
  if (removed) committer_.changed();
  return removed;
}

result<void> filesystem::rename(inode_number parent, std::string_view name, inode_number new_parent,
                                std::string_view new_name, unsigned flags) {
  auto gate = begin_change();
  if (!gate) return std::unexpected(gate.error());
  auto renamed = inodes_.rename(parent, name, new_parent, new_name, flags);
  if (renamed) committer_.changed();
  return renamed;
}

result<void> filesystem::link() {
  if (link_refusal_logged_.exchange(true)) return failure(EPERM);
  return failure(EPERM,
                 "hard links are not supported: 7z stores each name as its own entry (refused with EPERM; "
                 "later refusals are not logged)");
}

result<void> filesystem::readdir(inode_number number, off_t offset, const inode_table::directory_sink& add) {
  return inodes_.list(number, offset, add);
}

// Space as the archive's filesystem has it: what is written ends up there
// (the archive, pending packs, spill files); the staging pool bounds memory,
// not what fits, and a file manager checking `df` before a copy larger than
// the pool refused it. The pool's use is in the statistics.
struct statvfs filesystem::statfs() {
  struct statvfs st {};
  if (::statvfs(archive::directory_of(options_.archive_path).c_str(), &st) != 0) {
    const auto pool_stats = chunks_.stats();
    st = {};
    st.f_bsize = st.f_frsize = 4096;
    st.f_blocks = pool_stats.chunks_total * pool_stats.chunk_bytes / 4096;
    st.f_bfree = st.f_bavail = pool_stats.chunks_free * pool_stats.chunk_bytes / 4096;
  }
  st.f_flag = 0;
  st.f_fsid = 0;
  st.f_files = inodes_.node_count() + kStatfsFreeInodes;
  st.f_ffree = st.f_favail = kStatfsFreeInodes;
  st.f_namemax = 255;
  return st;
}

// ---- file content ------------------------------------------------------------

result<void> filesystem::open(inode_number number, int flags, const caller& who) {
  if (!opens_for_writing(flags)) {
    // Reading changes nothing: no wait for a running commit.
    auto node = inodes_.lock(number);
    if (!node) return std::unexpected(node.error());
    if ((*node)->is_directory()) return failure(EISDIR);
    return {};
  }
  auto gate = begin_change();
  if (!gate) return std::unexpected(gate.error());
  auto node = inodes_.lock(number);
  if (!node) return std::unexpected(node.error());
  inode& n = **node;
  if (n.is_directory()) return failure(EISDIR);
  if (flags & O_TRUNC) {
    content_changing(n);
    if (auto done = n.content.truncate(content_, 0); !done) return about(n, done.error());
    // The kernel fetches the attributes after an O_TRUNC open: no notice needed.
    clear_privileges(n, who);
    n.mtime = n.ctime = current_time();
    committer_.changed();
  }
  ++n.writers;
  ++n.write_opens;
  return {};
}

void filesystem::release(inode_number number, int flags) {
  bool unused = false;
  {
    auto node = inodes_.lock(number);
    if (!node) return;
    if (opens_for_writing(flags)) {
      inode& n = **node;
      if (n.writers > 0) --n.writers;
      committer_.changed();  // a closed file can now be committed
      if (n.writers == 0 && n.content.dirty() && n.kind == node_kind::file)
        sealer_.closed(number, n.write_opens, n.content.seals_since_commit());
    }
    unused = (*node)->parent == 0 && (*node)->lookups.load() == 0;
  }
  if (unused) inodes_.drop_if_unused(number);  // unlinked and forgotten: erase it
}

result<std::size_t> filesystem::read(inode_number number, std::span<std::byte> out, off_t offset) {
  const auto at = static_cast<std::uint64_t>(offset);
  std::optional<archived_bytes> archived;
  std::uint64_t prefix = 0;
  {
    auto node = inodes_.lock(number);
    if (!node) return std::unexpected(node.error());
    // Archived bytes are decoded without the file's lock: a long decode of a
    // solid folder holds up no other operation on the file.
    prefix = (*node)->content.archived_prefix();
    if (at >= prefix) {
      auto read = (*node)->content.read(content_, at, out);
      if (!read) return about(**node, read.error());
      return read;
    }
    archived = (*node)->content.archived();
  }
  const auto head = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), prefix - at));
  auto read = read_archived(reader_, *archived, at, out.first(head));
  if (!read) {
    // One log line per file that cannot be read, not one per read.
    auto node = inodes_.lock(number);
    if (!node || !(*node)->content.first_report()) read.error().message.clear();
    return read;
  }
  if (*read < head || head == out.size()) return read;
  // The rest was appended since (a read is short only at the end of the file).
  auto node = inodes_.lock(number);
  if (!node) return std::unexpected(node.error());
  auto rest = (*node)->content.read(content_, at + head, out.subspan(head));
  if (!rest) return about(**node, rest.error());
  return head + *rest;
}

result<std::size_t> filesystem::write_some(inode_number number, std::span<const std::byte> data, off_t offset,
                                           const caller& who) {
  auto gate = begin_change();
  if (!gate) return std::unexpected(gate.error());
  bool dropped = false;
  result<std::size_t> written = 0;
  {
    auto node = inodes_.lock(number);
    if (!node) return std::unexpected(node.error());
    content_changing(**node);
    written = (*node)->content.write(content_, static_cast<std::uint64_t>(offset), data);
    if (!written) return about(**node, written.error());
    if (*written > 0 || data.empty()) {
      dropped = clear_privileges(**node, who);
      (*node)->mtime = (*node)->ctime = current_time();
      committer_.changed();
    }
  }
  if (dropped && privileges_dropped_) privileges_dropped_(number);
  return written;
}

result<std::size_t> filesystem::write(inode_number number, std::span<const std::byte> data, off_t offset,
                                      const caller& who) {
  std::size_t done = 0;
  int fruitless_commits = 0;
  for (;;) {
    const auto written = write_some(number, data.subspan(done), offset + static_cast<off_t>(done), who);
    if (!written) return written;
    done += *written;
    if (done == data.size()) return done;
    if (*written > 0) fruitless_commits = 0;
    // The pool is full: closed files go to the compressor at once, and the
    // write waits until compressing them frees memory. When nothing is being
    // compressed, closed files are committed; files still open for writing
    // stay staged, and when they fill the pool the largest moves to a spill
    // file on disk.
    if (sealer_.make_room()) continue;
    if (++fruitless_commits > 1) {
      if (!spill_largest_open_file()) {
        log_.error("staging pool ({} MiB) is full and nothing can be committed or spilled; raise -o pool_size",
                   options_.pool_bytes >> 20);
        return done > 0 ? result<std::size_t>(done) : failure(ENOSPC);
      }
      fruitless_commits = 0;
      continue;
    }
    if (auto committed = commit_closed_files(); !committed) {
      return done > 0 ? result<std::size_t>(done) : std::unexpected(committed.error());
    }
  }
}

bool filesystem::spill_largest_open_file() {
  auto gate = committer_.change_gate();
  inode* largest = nullptr;
  std::uint64_t largest_size = 0;
  inodes_.for_each([&](inode& node) {
    std::lock_guard data(node.mutex);
    if (node.writers > 0 && node.content.staged_bytes() > largest_size) {
      largest = &node;
      largest_size = node.content.staged_bytes();
    }
  });
  if (largest == nullptr) return false;
  auto node = inodes_.lock(largest->number);
  if (!node) return true;  // gone meanwhile: just try again
  try {
    (*node)->content.spill(content_);
  } catch (const std::exception& e) {
    log_.error("{}: {}", inodes_.path_of(**node), e.what());
    return false;
  }
  log_.info(
      "{}: outgrew the staging pool while open for writing; its content goes to disk beside the archive "
      "until it is committed",
      inodes_.path_of(**node));
  return true;
}

}  // namespace sevenzfs::fs
