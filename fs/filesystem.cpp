#include "filesystem.hpp"

#include "staged_content.hpp"

#include "archive/archive_error.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>

namespace sevenzfs::fs {

namespace {

constexpr double kCacheSeconds = 60.0;
constexpr std::string_view kStatsPrefix = "user.sevenzfs.";
constexpr std::string_view kFlushName = "user.sevenzfs.flush";
constexpr std::string_view kStateName = "user.sevenzfs.state";

std::timespec now() {
  std::timespec t{};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return t;
}

void log(const std::string& message) { fmt::print(stderr, "sevenzfs: {}\n", message); }

bool valid_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.size() <= 255 && name.find('/') == std::string_view::npos;
}

std::timespec timespec_from_filetime(std::optional<std::uint64_t> filetime, std::timespec fallback) {
  if (!filetime) return fallback;
  constexpr std::int64_t kSecondsFrom1601To1970 = 11'644'473'600;
  const auto ticks = static_cast<std::int64_t>(*filetime);
  return {ticks / 10'000'000 - kSecondsFrom1601To1970, static_cast<long>((ticks % 10'000'000) * 100)};
}

std::uint32_t mode_from_attributes(std::optional<std::uint32_t> attributes, bool directory) {
  if (attributes && (*attributes & 0x8000)) return *attributes >> 16;
  const std::uint32_t type = directory ? S_IFDIR : S_IFREG;
  if (directory) return type | 0755;
  return type | ((attributes && (*attributes & 1)) ? 0444u : 0644u);
}

std::string number_text(std::uint64_t value) { return fmt::format("{}", value); }

}  // namespace

namespace {

// The compression settings of the daemon: progress goes to the statistics,
// and the parts parallel compression buffers (threads + 1 of them) stay
// within a quarter of the staging pool, the user's memory knob.
daemon_options for_daemon(daemon_options options, commit_progress& progress) {
  options.write.compression.progress = [&progress](std::uint64_t bytes) {
    progress.done_bytes.fetch_add(bytes, std::memory_order_relaxed);
  };
  const std::uint64_t parts = options.write.compression.threads + 1;
  options.write.compression.max_part_bytes =
      std::clamp<std::uint64_t>(options.pool_bytes / 4 / parts, std::uint64_t{1} << 20, std::uint64_t{256} << 20);
  return options;
}

}  // namespace

filesystem::filesystem(const daemon_options& options)
    : options_(for_daemon(options, progress_)),
      archive_(options_.archive_path, options_.write),
      chunks_(options.pool_bytes, pool::kStagingChunkBytes),
      store_(chunks_) {
  auto root = std::make_unique<inode>();
  root->number = kRootInode;
  root->kind = node_kind::directory;
  root->permissions = 0755;
  root->uid = ::getuid();
  root->gid = ::getgid();
  root->atime = root->mtime = root->ctime = now();
  root->lookups = 1;
  inodes_.emplace(kRootInode, std::move(root));
  load_archive();
  note_archive_figures();
}

void filesystem::note_archive_figures() {
  const auto& db = archive_.database();
  archive_file_bytes_ = archive_.exists() ? archive_.archive_bytes() : 0;
  archive_packed_bytes_ = std::accumulate(db.pack_sizes.begin(), db.pack_sizes.end(), std::uint64_t{0});
  archive_unpacked_bytes_ = std::accumulate(db.substream_sizes.begin(), db.substream_sizes.end(), std::uint64_t{0});
}

filesystem::~filesystem() {
  stop_commit_thread();
  inodes_.clear();  // staged files go back to the store before it goes
}

void filesystem::load_archive() {
  const auto& db = archive_.database();
  std::uint64_t stream = 0;
  // Attaching children stamps a directory with the current time, so the
  // archived directory times are applied once everything is in place.
  std::vector<std::pair<inode*, std::timespec>> directory_times;
  for (const auto& file : db.files) {
    const std::uint64_t this_stream = file.has_stream ? stream++ : UINT64_MAX;
    if (file.has_stream) stream_files_.push_back(file);
    // Walk (and create missing) parent directories.
    inode* dir = &node(kRootInode);
    std::size_t start = 0;
    const std::string& path = file.name;
    bool usable = true;
    for (;;) {
      const auto slash = path.find('/', start);
      if (slash == std::string::npos) break;
      const std::string component = path.substr(start, slash - start);
      start = slash + 1;
      if (!valid_name(component)) {
        usable = false;
        break;
      }
      const auto it = dir->children.find(component);
      if (it == dir->children.end()) {
        inode& made = add_node(node_kind::directory, dir->number, component, 0755, {::getuid(), ::getgid()});
        dir = &made;
      } else {
        inode& existing = node(it->second.number);
        if (existing.kind != node_kind::directory) {
          usable = false;
          break;
        }
        dir = &existing;
      }
    }
    const std::string leaf = path.substr(start);
    if (!usable || !valid_name(leaf)) {
      log(fmt::format("{}: entry '{}' has a name the mount cannot show; it stays in the archive", options_.archive_path,
                      path));
      continue;
    }
    const std::uint32_t st_mode = mode_from_attributes(file.attributes, file.is_directory && !file.has_stream);
    node_kind kind = node_kind::regular;
    if (!file.has_stream && file.is_directory)
      kind = node_kind::directory;
    else if (S_ISLNK(st_mode) && file.has_stream)
      kind = node_kind::symlink;
    const auto existing = dir->children.find(leaf);
    if (existing != dir->children.end()) {
      inode& old = node(existing->second.number);
      if (old.kind == node_kind::directory && kind == node_kind::directory) {
        old.permissions = st_mode & 07777;
        directory_times.emplace_back(&old, timespec_from_filetime(file.mtime, old.mtime));
        continue;
      }
      if (old.kind == node_kind::directory) {
        log(fmt::format("{}: '{}' is both a directory and a file; the directory is shown", options_.archive_path,
                        path));
        continue;
      }
      detach(*dir, leaf);  // a later entry of the same name is the newer copy
      drop_if_unused(old);
    }
    inode& made = add_node(kind, dir->number, leaf, st_mode & 07777, {::getuid(), ::getgid()});
    made.mtime = made.ctime = made.atime = timespec_from_filetime(file.mtime, made.mtime);
    if (kind == node_kind::directory) directory_times.emplace_back(&made, made.mtime);
    if (file.has_stream) {
      made.stream = this_stream;
      made.archived_size = db.substream_sizes[this_stream];
      files_archived_.fetch_add(1, std::memory_order_relaxed);
      bytes_archived_.fetch_add(made.archived_size, std::memory_order_relaxed);
    }
  }
  for (auto& [dir, time] : directory_times) dir->mtime = dir->ctime = dir->atime = time;
}

inode& filesystem::node(inode_number number) {
  const auto it = inodes_.find(number);
  if (it == inodes_.end()) throw std::out_of_range(fmt::format("no inode {}", number));
  return *it->second;
}

result<std::pair<inode*, inode*>> filesystem::entry_in(inode_number parent, std::string_view name) {
  inode* dir = find(parent);
  if (dir == nullptr) return std::unexpected(ENOENT);
  if (dir->kind != node_kind::directory) return std::unexpected(ENOTDIR);
  const auto it = dir->children.find(std::string(name));
  if (it == dir->children.end()) return std::unexpected(ENOENT);
  return std::pair{dir, &node(it->second.number)};
}

int filesystem::check_new_entry(inode_number parent, std::string_view name) {
  if (!valid_name(name)) return name.size() > 255 ? ENAMETOOLONG : EINVAL;
  inode* dir = find(parent);
  if (dir == nullptr) return ENOENT;
  if (dir->kind != node_kind::directory) return ENOTDIR;
  return dir->children.contains(std::string(name)) ? EEXIST : 0;
}

inode* filesystem::find(inode_number number) {
  const auto it = inodes_.find(number);
  return it == inodes_.end() ? nullptr : it->second.get();
}

inode& filesystem::add_node(node_kind kind, inode_number parent, std::string_view name, std::uint32_t permissions,
                            const caller& who) {
  auto made = std::make_unique<inode>();
  inode& n = *made;
  n.number = next_inode_++;
  n.kind = kind;
  n.permissions = permissions & 07777;
  n.uid = who.uid;
  n.gid = who.gid;
  n.atime = n.mtime = n.ctime = now();
  inodes_.emplace(n.number, std::move(made));
  attach(node(parent), n, std::string(name));
  return n;
}

void filesystem::attach(inode& dir, inode& child, const std::string& name) {
  const std::uint64_t cookie = dir.next_cookie++;
  dir.children.emplace(name, inode::child{child.number, cookie});
  dir.children_by_cookie.emplace(cookie, name);
  if (child.kind == node_kind::directory) ++dir.subdirectories;
  child.parent = dir.number;
  child.name = name;
  dir.mtime = dir.ctime = now();
}

void filesystem::detach(inode& dir, const std::string& name) {
  const auto it = dir.children.find(name);
  if (it == dir.children.end()) return;
  inode& child = node(it->second.number);
  if (child.kind == node_kind::directory) --dir.subdirectories;
  dir.children_by_cookie.erase(it->second.cookie);
  dir.children.erase(it);
  child.parent = 0;
  dir.mtime = dir.ctime = now();
}

void filesystem::drop_if_unused(inode& n) {
  if (n.parent != 0 || n.number == kRootInode || n.lookups.load() > 0) return;
  {
    std::lock_guard data(n.data_mutex);
    if (n.writers > 0) return;
  }
  inodes_.erase(n.number);
}

struct stat filesystem::stat_of(const inode& n) const {
  struct stat st {};
  st.st_ino = n.number;
  std::uint32_t type = S_IFREG;
  if (n.kind == node_kind::directory) type = S_IFDIR;
  if (n.kind == node_kind::symlink) type = S_IFLNK;
  st.st_mode = type | n.permissions;
  st.st_nlink = n.kind == node_kind::directory ? 2 + n.subdirectories : (n.parent != 0 ? 1 : 0);
  st.st_uid = n.uid;
  st.st_gid = n.gid;
  st.st_size = static_cast<off_t>(n.size());
  st.st_blksize = 65536;
  st.st_blocks = static_cast<blkcnt_t>((n.size() + 511) / 512);
  st.st_atim = n.atime;
  st.st_mtim = n.mtime;
  st.st_ctim = n.ctime;
  return st;
}

fuse_entry_param filesystem::entry_of(inode& n) {
  fuse_entry_param e{};
  e.ino = n.number;
  e.generation = 1;
  e.attr = stat_of(n);
  e.attr_timeout = kCacheSeconds;
  e.entry_timeout = kCacheSeconds;
  n.lookups.fetch_add(1);
  return e;
}

std::string filesystem::path_of(const inode& n) const {
  std::vector<const std::string*> parts;
  for (const inode* at = &n; at->number != kRootInode && at->parent != 0;) {
    parts.push_back(&at->name);
    at = inodes_.at(at->parent).get();
  }
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (!path.empty()) path += '/';
    path += **it;
  }
  return path;
}

// ---- lookups and attributes -------------------------------------------------

result<fuse_entry_param> filesystem::lookup(inode_number parent, std::string_view name) {
  std::shared_lock table(table_mutex_);
  const auto found = entry_in(parent, name);
  if (!found) return std::unexpected(found.error());
  inode& child = *found->second;
  std::lock_guard data(child.data_mutex);
  return entry_of(child);
}

void filesystem::forget(inode_number number, std::uint64_t count) {
  {
    std::shared_lock table(table_mutex_);
    inode* n = find(number);
    if (n == nullptr) return;
    std::uint64_t lookups = n->lookups.load();
    while (!n->lookups.compare_exchange_weak(lookups, lookups - std::min(lookups, count))) {
    }
    if (lookups > count || n->parent != 0) return;
  }
  // The kernel forgot an unlinked inode: erase it (a short exclusive lock).
  std::unique_lock table(table_mutex_);
  if (inode* n = find(number)) drop_if_unused(*n);
}

result<struct stat> filesystem::getattr(inode_number number) {
  std::shared_lock table(table_mutex_);
  inode* n = find(number);
  if (n == nullptr) return std::unexpected(ENOENT);
  std::lock_guard data(n->data_mutex);
  return stat_of(*n);
}

result<struct stat> filesystem::setattr(inode_number number, const struct stat& attr, int to_set) {
  std::shared_lock gate(commit_gate_);
  std::shared_lock table(table_mutex_);
  inode* n = find(number);
  if (n == nullptr) return std::unexpected(ENOENT);
  std::lock_guard data(n->data_mutex);
  if (to_set & FUSE_SET_ATTR_SIZE) {
    if (n->kind != node_kind::regular) return std::unexpected(n->kind == node_kind::directory ? EISDIR : EINVAL);
    const auto size = static_cast<std::uint64_t>(attr.st_size);
    if (n->content_is_archived_only() && size != 0) {
      log(fmt::format("{}: cannot truncate an archived file to {} bytes (its content is not staged)", path_of(*n),
                      size));
      return std::unexpected(EPERM);
    }
    if (n->spill) {
      if (const int error = n->spill->truncate(size); error != 0) return std::unexpected(error);
      n->spill_size = size;
    } else {
      if (!n->staged) n->staged.emplace(store_);
      store_.truncate(*n->staged, size);
    }
    n->dirty = true;
    n->mtime = now();
  }
  if (to_set & FUSE_SET_ATTR_MODE) n->permissions = attr.st_mode & 07777;
  if (to_set & FUSE_SET_ATTR_UID) n->uid = attr.st_uid;
  if (to_set & FUSE_SET_ATTR_GID) n->gid = attr.st_gid;
  if (to_set & FUSE_SET_ATTR_ATIME) n->atime = attr.st_atim;
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) n->atime = now();
  if (to_set & FUSE_SET_ATTR_MTIME) n->mtime = attr.st_mtim;
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) n->mtime = now();
  n->ctime = now();
  generation_.fetch_add(1, std::memory_order_relaxed);
  return stat_of(*n);
}

result<std::string> filesystem::readlink(inode_number number) {
  std::shared_lock table(table_mutex_);
  inode* n = find(number);
  if (n == nullptr) return std::unexpected(ENOENT);
  if (n->kind != node_kind::symlink) return std::unexpected(EINVAL);
  if (n->link_target.empty() && n->stream) {
    log(fmt::format("{}: reading archived symlinks is not supported yet", path_of(*n)));
    return std::unexpected(EOPNOTSUPP);
  }
  return n->link_target;
}

// ---- creating and removing ---------------------------------------------------

result<fuse_entry_param> filesystem::mknod(inode_number parent, std::string_view name, mode_t mode, const caller& who) {
  if (!S_ISREG(mode)) {
    log(fmt::format("mknod of '{}' refused: 7z stores no device nodes, FIFOs or sockets", name));
    return std::unexpected(EPERM);
  }
  return create(parent, name, mode, O_RDONLY, who);  // created, not opened: no writer
}

result<fuse_entry_param> filesystem::mkdir(inode_number parent, std::string_view name, mode_t mode, const caller& who) {
  std::shared_lock gate(commit_gate_);
  std::unique_lock table(table_mutex_);
  if (const int error = check_new_entry(parent, name); error != 0) return std::unexpected(error);
  inode& made = add_node(node_kind::directory, parent, name, mode, who);
  generation_.fetch_add(1, std::memory_order_relaxed);
  return entry_of(made);
}

result<fuse_entry_param> filesystem::symlink(std::string_view target, inode_number parent, std::string_view name,
                                             const caller& who) {
  std::shared_lock gate(commit_gate_);
  std::unique_lock table(table_mutex_);
  if (const int error = check_new_entry(parent, name); error != 0) return std::unexpected(error);
  inode& made = add_node(node_kind::symlink, parent, name, 0777, who);
  made.link_target = target;
  made.dirty = true;
  generation_.fetch_add(1, std::memory_order_relaxed);
  return entry_of(made);
}

result<fuse_entry_param> filesystem::create(inode_number parent, std::string_view name, mode_t mode, int flags,
                                            const caller& who) {
  std::shared_lock gate(commit_gate_);
  std::unique_lock table(table_mutex_);
  if (const int error = check_new_entry(parent, name); error != 0) return std::unexpected(error);
  inode& made = add_node(node_kind::regular, parent, name, mode, who);
  made.staged.emplace(store_);
  made.dirty = true;
  if ((flags & O_ACCMODE) != O_RDONLY) ++made.writers;
  generation_.fetch_add(1, std::memory_order_relaxed);
  return entry_of(made);
}

int filesystem::unlink(inode_number parent, std::string_view name) { return remove_entry(parent, name, false); }

int filesystem::rmdir(inode_number parent, std::string_view name) { return remove_entry(parent, name, true); }

int filesystem::remove_entry(inode_number parent, std::string_view name, bool directory) {
  std::shared_lock gate(commit_gate_);
  std::unique_lock table(table_mutex_);
  const auto found = entry_in(parent, name);
  if (!found) return found.error();
  auto& [dir, child] = *found;
  if (directory && child->kind != node_kind::directory) return ENOTDIR;
  if (!directory && child->kind == node_kind::directory) return EISDIR;
  if (directory && !child->children.empty()) return ENOTEMPTY;
  if (child->stream) {
    log(fmt::format("{}: deleted from the mount; its archived copy stays in the archive (7z folders are append-only)",
                    path_of(*child)));
  }
  detach(*dir, std::string(name));
  generation_.fetch_add(1, std::memory_order_relaxed);
  drop_if_unused(*child);
  return 0;
}

int filesystem::rename(inode_number parent, std::string_view name, inode_number new_parent, std::string_view new_name,
                       unsigned flags) {
  if (flags & RENAME_EXCHANGE) return EINVAL;
  if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE)) return EINVAL;
  if (!valid_name(new_name)) return new_name.size() > 255 ? ENAMETOOLONG : EINVAL;
  std::shared_lock gate(commit_gate_);
  std::unique_lock table(table_mutex_);
  inode* from = find(parent);
  inode* to = find(new_parent);
  if (from == nullptr || to == nullptr) return ENOENT;
  if (to->kind != node_kind::directory) return ENOTDIR;
  const auto it = from->children.find(std::string(name));
  if (it == from->children.end()) return ENOENT;
  inode& moving = node(it->second.number);
  // A directory cannot move below itself.
  for (const inode* at = to; at != nullptr && at->number != kRootInode; at = find(at->parent)) {
    if (at->number == moving.number) return EINVAL;
  }
  const auto target = to->children.find(std::string(new_name));
  if (target != to->children.end()) {
    if (target->second.number == moving.number) return 0;
    if (flags & RENAME_NOREPLACE) return EEXIST;
    inode& replaced = node(target->second.number);
    if (replaced.kind == node_kind::directory) {
      if (moving.kind != node_kind::directory) return EISDIR;
      if (!replaced.children.empty()) return ENOTEMPTY;
    } else if (moving.kind == node_kind::directory) {
      return ENOTDIR;
    }
    detach(*to, std::string(new_name));
    drop_if_unused(replaced);
  }
  detach(*from, std::string(name));
  attach(*to, moving, std::string(new_name));
  moving.ctime = now();
  generation_.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

int filesystem::link() {
  log("hard links are not supported: 7z stores each name as its own entry");
  return EPERM;
}

// ---- file content ----------------------------------------------------------

int filesystem::open(inode_number number, int flags) {
  std::shared_lock gate(commit_gate_);
  std::shared_lock table(table_mutex_);
  inode* n = find(number);
  if (n == nullptr) return ENOENT;
  if (n->kind == node_kind::directory) return EISDIR;
  std::lock_guard data(n->data_mutex);
  const bool writing = (flags & O_ACCMODE) != O_RDONLY;
  if (writing) {
    if (n->content_is_archived_only() && !(flags & O_TRUNC) && n->archived_size > 0) {
      log(
          fmt::format("{}: archived files can only be rewritten from scratch (O_TRUNC) until reading back "
                      "archived content is supported",
                      path_of(*n)));
      return EPERM;
    }
    if (flags & O_TRUNC) {
      if (n->spill) {
        if (const int error = n->spill->truncate(0); error != 0) return error;
        n->spill_size = 0;
      } else {
        if (!n->staged) n->staged.emplace(store_);
        store_.truncate(*n->staged, 0);
      }
      n->dirty = true;
      n->mtime = n->ctime = now();
      generation_.fetch_add(1, std::memory_order_relaxed);
    }
    if (!n->staged && !n->spill) n->staged.emplace(store_);
    ++n->writers;
  }
  return 0;
}

void filesystem::release(inode_number number, int flags) {
  {
    std::shared_lock table(table_mutex_);
    inode* n = find(number);
    if (n == nullptr) return;
    if ((flags & O_ACCMODE) != O_RDONLY) {
      std::lock_guard data(n->data_mutex);
      if (n->writers > 0) --n->writers;
      generation_.fetch_add(1, std::memory_order_relaxed);  // a closed file can now be committed
    }
    if (n->parent != 0 || n->lookups.load() > 0) return;
  }
  // Unlinked and forgotten: erase it (a short exclusive lock).
  std::unique_lock table(table_mutex_);
  if (inode* n = find(number)) drop_if_unused(*n);
}

result<std::size_t> filesystem::read(inode_number number, char* buffer, std::size_t size, off_t offset) {
  std::shared_lock table(table_mutex_);
  inode* n = find(number);
  if (n == nullptr) return std::unexpected(ENOENT);
  std::lock_guard data(n->data_mutex);
  if (n->spill) {
    if (static_cast<std::uint64_t>(offset) >= n->spill_size) return std::size_t{0};
    const auto count =
        static_cast<std::size_t>(std::min<std::uint64_t>(size, n->spill_size - static_cast<std::uint64_t>(offset)));
    if (const int error =
            n->spill->read(static_cast<std::uint64_t>(offset), std::as_writable_bytes(std::span(buffer, count)));
        error != 0) {
      return std::unexpected(error);
    }
    return count;
  }
  if (!n->staged) {
    if (n->size() == 0 || static_cast<std::uint64_t>(offset) >= n->size()) return std::size_t{0};
    log(fmt::format("{}: reading content that is already in the archive is not supported yet", path_of(*n)));
    return std::unexpected(EOPNOTSUPP);
  }
  return store_.read(*n->staged, static_cast<std::uint64_t>(offset), std::as_writable_bytes(std::span(buffer, size)));
}

result<std::size_t> filesystem::write_staged(inode_number number, const char* data, std::size_t size, off_t offset) {
  std::shared_lock gate(commit_gate_);
  std::shared_lock table(table_mutex_);
  inode* n = find(number);
  if (n == nullptr) return std::unexpected(ENOENT);
  std::lock_guard lock(n->data_mutex);
  if (n->spill) {
    if (const int error = n->spill->write(static_cast<std::uint64_t>(offset), std::as_bytes(std::span(data, size)));
        error != 0) {
      return std::unexpected(error);
    }
    n->spill_size = std::max(n->spill_size, static_cast<std::uint64_t>(offset) + size);
    n->dirty = true;
    n->mtime = n->ctime = now();
    generation_.fetch_add(1, std::memory_order_relaxed);
    return size;
  }
  if (!n->staged) return std::unexpected(EBADF);
  const std::size_t written =
      store_.write(*n->staged, static_cast<std::uint64_t>(offset), std::as_bytes(std::span(data, size)),
                   pool::staging_store::memory_wait::fail_fast);
  if (written > 0 || size == 0) {
    n->dirty = true;
    n->mtime = n->ctime = now();
    generation_.fetch_add(1, std::memory_order_relaxed);
  }
  return written;
}

result<std::size_t> filesystem::write(inode_number number, const char* data, std::size_t size, off_t offset) {
  std::size_t done = 0;
  int fruitless_commits = 0;
  while (true) {
    const auto written = write_staged(number, data + done, size - done, offset + static_cast<off_t>(done));
    if (!written) return written;
    done += *written;
    if (done == size) return done;
    if (*written > 0) fruitless_commits = 0;
    // The pool is full: commit closed files to make room, then go on. Files
    // still open for writing stay staged; when they fill the pool, the
    // largest moves to a spill file on disk.
    if (++fruitless_commits > 1) {
      bool spilled = false;
      try {
        spilled = spill_largest_open_file();
      } catch (const std::exception& e) {
        log(e.what());
      }
      if (!spilled) {
        log(fmt::format("staging pool ({} MiB) is full and nothing can be committed or spilled; raise -o pool_size",
                        options_.pool_bytes >> 20));
        return done > 0 ? result<std::size_t>(done) : std::unexpected(ENOSPC);
      }
      fruitless_commits = 0;
      continue;
    }
    if (const auto error = scheduler_ ? scheduler_->commit_and_wait(false) : commit(commit_scope::closed_files);
        !error.empty()) {
      return done > 0 ? result<std::size_t>(done) : std::unexpected(EIO);
    }
  }
}

bool filesystem::spill_largest_open_file() {
  std::shared_lock gate(commit_gate_);
  std::shared_lock table(table_mutex_);
  inode* largest = nullptr;
  std::uint64_t largest_size = 0;
  for (auto& [number, n] : inodes_) {
    std::lock_guard data(n->data_mutex);
    if (n->writers > 0 && n->staged && !n->spill && n->staged->size() > largest_size) {
      largest = n.get();
      largest_size = n->staged->size();
    }
  }
  if (largest == nullptr) return false;
  std::lock_guard data(largest->data_mutex);
  if (!largest->staged || largest->spill) return true;  // changed meanwhile: just try again
  spill_file file(options_.archive_path);
  std::uint64_t offset = 0;
  int error = 0;
  store_.for_each_span(*largest->staged, [&](std::span<const std::byte> bytes) {
    if (error == 0) error = file.write(offset, bytes);
    offset += bytes.size();
  });
  if (error != 0) {
    log(fmt::format("{}: cannot spill to disk: {}", path_of(*largest), std::strerror(error)));
    return false;
  }
  largest->spill_size = largest->staged->size();
  largest->spill.emplace(std::move(file));
  largest->staged.reset();
  log(
      fmt::format("{}: outgrew the staging pool while open for writing; its content goes to disk beside the archive "
                  "until it is committed",
                  path_of(*largest)));
  return true;
}

int filesystem::fsync() {
  if (!scheduler_) return EIO;
  const auto error = scheduler_->commit_and_wait(true);
  return error.empty() ? 0 : EIO;
}

// ---- directories -----------------------------------------------------------

result<std::size_t> filesystem::readdir(fuse_req_t request, inode_number number, char* buffer, std::size_t size,
                                        off_t offset) {
  std::shared_lock table(table_mutex_);
  inode* dir = find(number);
  if (dir == nullptr) return std::unexpected(ENOENT);
  if (dir->kind != node_kind::directory) return std::unexpected(ENOTDIR);
  std::size_t used = 0;
  // Offsets: 1 = ".", 2 = "..", then child cookies + 2.
  auto add = [&](const char* name, const struct stat& st, off_t next) {
    const std::size_t need = fuse_add_direntry(request, buffer + used, size - used, name, &st, next);
    if (need > size - used) return false;
    used += need;
    return true;
  };
  struct stat st {};
  if (offset < 1) {
    st.st_ino = dir->number;
    st.st_mode = S_IFDIR;
    if (!add(".", st, 1)) return used;
  }
  if (offset < 2) {
    st.st_ino = dir->parent != 0 ? dir->parent : dir->number;
    st.st_mode = S_IFDIR;
    if (!add("..", st, 2)) return used;
  }
  const std::uint64_t after = offset > 2 ? static_cast<std::uint64_t>(offset) - 2 : 0;
  for (auto it = dir->children_by_cookie.upper_bound(after); it != dir->children_by_cookie.end(); ++it) {
    const auto& child = dir->children.at(it->second);
    const inode* n = find(child.number);
    st.st_ino = child.number;
    st.st_mode = n == nullptr ? 0
                              : (n->kind == node_kind::directory ? S_IFDIR
                                 : n->kind == node_kind::symlink ? S_IFLNK
                                                                 : S_IFREG);
    if (!add(it->second.c_str(), st, static_cast<off_t>(it->first + 2))) break;
  }
  return used;
}

struct statvfs filesystem::statfs() {
  const auto pool_stats = chunks_.stats();
  struct statvfs st {};
  st.f_bsize = 4096;
  st.f_frsize = 4096;
  st.f_blocks = pool_stats.chunks_total * pool_stats.chunk_bytes / 4096;
  st.f_bfree = st.f_bavail = pool_stats.chunks_free * pool_stats.chunk_bytes / 4096;
  std::shared_lock table(table_mutex_);
  st.f_files = inodes_.size() + 1'000'000'000ull;
  st.f_ffree = st.f_favail = 1'000'000'000ull;
  st.f_namemax = 255;
  return st;
}

// ---- extended attributes ---------------------------------------------------

int filesystem::setxattr(inode_number number, std::string_view name, std::string_view value) {
  if (number == kRootInode && name == kFlushName) {
    (void)value;  // any value asks for a commit
    return fsync();
  }
  return ENOTSUP;  // 7z has nowhere to keep extended attributes
}

result<std::string> filesystem::getxattr(inode_number number, std::string_view name, bool size_probe) {
  if (!name.starts_with(kStatsPrefix)) return std::unexpected(ENODATA);
  if (number == kRootInode) {
    constexpr auto kProbeValidity = std::chrono::seconds(5);
    const std::string key(name);
    if (!size_probe) {
      std::lock_guard lock(probed_mutex_);
      const auto it = probed_.find(key);
      if (it != probed_.end()) {
        auto value = std::move(it->second);
        probed_.erase(it);
        if (std::chrono::steady_clock::now() - value.when < kProbeValidity) return std::move(value.value);
      }
    }
    const auto values = stats();
    std::optional<std::string> found;
    if (name == "user.sevenzfs.stats") found = stats_json(values);
    for (const auto& v : values) {
      if (!found && v.name == name.substr(kStatsPrefix.size())) found = v.text;
    }
    if (!found) return std::unexpected(ENODATA);
    if (size_probe) {
      std::lock_guard lock(probed_mutex_);
      probed_[key] = {*found, std::chrono::steady_clock::now()};
    }
    return *found;
  }
  if (name != kStateName) return std::unexpected(ENODATA);
  std::shared_lock gate(commit_gate_);  // the archive's database is stable
  std::shared_lock table(table_mutex_);
  inode* n = find(number);
  if (n == nullptr) return std::unexpected(ENOENT);
  if (n->kind == node_kind::directory) return std::unexpected(ENODATA);
  std::lock_guard data(n->data_mutex);
  if (n->dirty || !n->stream) return std::string(n->size() == 0 && !n->dirty ? "empty" : "staged");
  const auto [folder, packed] = archive_.folder_of_stream(*n->stream);
  return fmt::format("archived folder={} packed={}", folder, packed);
}

result<std::string> filesystem::listxattr(inode_number number) {
  std::string list;
  if (number == kRootInode) {
    for (const auto& v : stats()) list += fmt::format("{}{}", kStatsPrefix, v.name) + '\0';
    list += std::string("user.sevenzfs.stats") + '\0';
    return list;
  }
  std::shared_lock table(table_mutex_);
  inode* n = find(number);
  if (n == nullptr) return std::unexpected(ENOENT);
  if (n->kind != node_kind::directory) list += std::string(kStateName) + '\0';
  return list;
}

std::vector<stat_value> filesystem::stats() {
  const auto store_stats = store_.stats();
  const auto pool_stats = chunks_.stats();
  const double duration = static_cast<double>(progress_.last_duration_us.load()) / 1e6;
  const double seconds = duration > 0 ? duration : 1e-9;
  const auto last_bytes = progress_.last_bytes.load();
  const auto last_files = progress_.last_files.load();
  const auto pending = progress_.pending_bytes.load();
  const auto done = std::min(progress_.done_bytes.load(), pending);
  const auto archived_bytes = bytes_archived_.load();
  const std::uint64_t packed = archive_packed_bytes_.load();
  const std::uint64_t unpacked = archive_unpacked_bytes_.load();
  std::vector<stat_value> v;
  v.push_back({"files_staged", number_text(store_stats.files)});
  v.push_back({"bytes_staged", number_text(store_stats.bytes)});
  v.push_back({"files_archived", number_text(files_archived_.load())});
  v.push_back({"bytes_archived", number_text(archived_bytes)});
  v.push_back({"archive_bytes", number_text(archive_file_bytes_.load())});
  v.push_back({"compression_ratio",
               unpacked ? fmt::format("{:.4f}", static_cast<double>(packed) / static_cast<double>(unpacked)) : "0"});
  v.push_back({"small_files", number_text(store_stats.small_files)});
  v.push_back({"medium_files", number_text(store_stats.medium_files)});
  v.push_back({"large_files", number_text(store_stats.large_files)});
  v.push_back({"pool_chunk_bytes", number_text(pool_stats.chunk_bytes)});
  v.push_back({"pool_chunks_total", number_text(pool_stats.chunks_total)});
  v.push_back({"pool_chunks_free", number_text(pool_stats.chunks_free)});
  v.push_back({"pool_chunks_high_water", number_text(pool_stats.chunks_high_water)});
  v.push_back({"pool_waits", number_text(pool_stats.waits)});
  v.push_back({"pool_wait_seconds", fmt::format("{:.3f}", static_cast<double>(pool_stats.wait_nanoseconds) / 1e9)});
  v.push_back({"commits", number_text(progress_.commits.load())});
  v.push_back({"committing", progress_.running.load() ? "1" : "0"});
  v.push_back({"commit_bytes_pending", number_text(pending)});
  v.push_back({"commit_bytes_done", number_text(done)});
  v.push_back(
      {"commit_progress_percent",
       pending ? fmt::format("{:.1f}", 100.0 * static_cast<double>(done) / static_cast<double>(pending)) : "100.0"});
  v.push_back({"last_commit_time", number_text(static_cast<std::uint64_t>(progress_.last_time.load()))});
  v.push_back({"last_commit_seconds", fmt::format("{:.3f}", duration)});
  v.push_back({"last_commit_files", number_text(last_files)});
  v.push_back({"last_commit_bytes", number_text(last_bytes)});
  v.push_back({"last_commit_mb_per_s", fmt::format("{:.2f}", static_cast<double>(last_bytes) / 1e6 / seconds)});
  v.push_back({"last_commit_files_per_s", fmt::format("{:.1f}", static_cast<double>(last_files) / seconds)});
  v.push_back({"last_error", progress_.error(), false});
  v.push_back({"pid", number_text(static_cast<std::uint64_t>(::getpid()))});
  v.push_back({"mode", std::string(archive::pack_mode_name(options_.write.plan.mode)), false});
  v.push_back({"level", number_text(static_cast<std::uint64_t>(options_.write.compression.level))});
  return v;
}

// ---- commits ---------------------------------------------------------------

bool filesystem::has_changes() const {
  std::shared_lock gate(commit_gate_);
  return generation_.load() != committed_generation_ || !archive_.exists();
}

void filesystem::start_commit_thread() {
  scheduler_ = std::make_unique<commit_scheduler>(
      [this](bool everything) { return commit(everything ? commit_scope::everything : commit_scope::closed_files); },
      [this] { return has_changes(); }, std::chrono::seconds(options_.flush_interval_seconds));
}

void filesystem::stop_commit_thread() {
  if (scheduler_) scheduler_->stop();
}

std::string filesystem::final_commit() {
  stop_commit_thread();
  if (!has_changes()) return "";
  return commit(commit_scope::everything);
}

std::string filesystem::commit(commit_scope scope) {
  std::unique_lock gate(commit_gate_);
  try {
    return commit_locked(scope);
  } catch (const std::exception& e) {
    progress_.running = false;
    const std::string error = fmt::format("commit to {} failed: {}", options_.archive_path, e.what());
    log(error);
    progress_.set_error(error);
    return error;
  }
}

std::string filesystem::commit_locked(commit_scope scope) {
  const auto started = std::chrono::steady_clock::now();
  const std::uint64_t generation = generation_.load();
  std::shared_lock table(table_mutex_);

  archive::commit_request request;
  request.archived_stream_files = stream_files_;
  std::vector<inode*> committed;  // new_files[k] comes from committed[k]
  std::vector<inode*> emptied;    // dirty files committed as empty
  std::vector<std::pair<inode*, std::string>> pending{{&node(kRootInode), ""}};
  while (!pending.empty()) {
    auto [dir, dir_path] = pending.back();
    pending.pop_back();
    for (const auto& [cookie, name] : dir->children_by_cookie) {
      inode& n = node(dir->children.at(name).number);
      const std::string path = dir_path.empty() ? name : dir_path + "/" + name;
      std::lock_guard data(n.data_mutex);  // `writers` changes on close, even now
      archive::entry e;
      e.path = path;
      e.mode = n.permissions;
      e.mtime = n.mtime;
      if (n.stream) {
        auto& info = request.archived_stream_files[*n.stream];
        info.name = path;
        info.attributes =
            archive::attributes_from_mode((n.kind == node_kind::symlink ? S_IFLNK : S_IFREG) | n.permissions);
        info.mtime = archive::filetime_from_unix(n.mtime.tv_sec, static_cast<std::uint32_t>(n.mtime.tv_nsec));
      }
      if (n.kind == node_kind::directory) {
        e.kind = archive::entry_kind::directory;
        request.entries_without_data.push_back(std::move(e));
        pending.emplace_back(&n, path);
        continue;
      }
      // Files still open for writing wait for a commit of everything.
      const bool include = n.dirty && (scope == commit_scope::everything || n.writers == 0);
      if (n.kind == node_kind::symlink) {
        if (!include) continue;
        e.kind = archive::entry_kind::symlink;
        e.size = n.link_target.size();
        e.content = std::make_shared<archive::memory_content>(n.link_target);
        request.new_files.push_back(std::move(e));
        committed.push_back(&n);
        continue;
      }
      if (include && n.size() > 0) {
        e.size = n.size();
        if (n.spill)
          e.content = std::make_shared<spill_content>(*n.spill, n.size(), path);
        else
          e.content = std::make_shared<staged_content>(store_, *n.staged, path);
        request.new_files.push_back(std::move(e));
        committed.push_back(&n);
      } else if (include) {
        request.entries_without_data.push_back(std::move(e));  // now empty
        emptied.push_back(&n);
      } else if (!n.dirty && !n.stream) {
        request.entries_without_data.push_back(std::move(e));  // empty since an earlier commit
      }
    }
  }

  progress_.pending_bytes = std::accumulate(request.new_files.begin(), request.new_files.end(), std::uint64_t{0},
                                            [](std::uint64_t sum, const archive::entry& e) { return sum + e.size; });
  progress_.done_bytes = 0;
  progress_.running = true;
  const auto result = archive_.commit(request);
  progress_.running = false;

  // The archive has it: point the inodes at their streams and give back the
  // memory of files nobody is writing.
  for (std::size_t k = 0; k < committed.size(); ++k) {
    inode& n = *committed[k];
    std::lock_guard data(n.data_mutex);
    n.stream = result.stream_index[k];
    n.archived_size = n.size();
    n.dirty = false;
    files_archived_.fetch_add(1, std::memory_order_relaxed);
    bytes_archived_.fetch_add(n.archived_size, std::memory_order_relaxed);
  }
  for (inode* n : emptied) {
    std::lock_guard data(n->data_mutex);
    n->dirty = false;
    n->stream.reset();  // an older archived copy, if any, is superseded
    n->archived_size = 0;
  }
  for (auto& [number, n] : inodes_) {
    std::lock_guard data(n->data_mutex);
    if (!n->dirty && n->writers == 0 && n->stream) {
      n->staged.reset();
      n->spill.reset();
    }
  }
  stream_files_.clear();
  for (const auto& f : archive_.database().files) {
    if (f.has_stream) stream_files_.push_back(f);
  }
  committed_generation_ = generation;
  note_archive_figures();

  const auto elapsed = std::chrono::steady_clock::now() - started;
  progress_.commits.fetch_add(1);
  progress_.last_time = static_cast<std::int64_t>(::time(nullptr));
  progress_.last_duration_us =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
  progress_.last_files = committed.size();
  progress_.last_bytes = result.input_bytes;
  progress_.set_error("");
  return "";
}

}  // namespace sevenzfs::fs
