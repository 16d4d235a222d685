#include "fuse_operations.hpp"

#include "access_check.hpp"
#include "control_ioctl.hpp"
#include "filesystem.hpp"

#include "archive/archive_error.hpp"

#include <fmt/format.h>

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace sevenzfs::fs {

namespace {

constexpr double kCacheSeconds = 60.0;

fuse_binding& binding_of(fuse_req_t request) { return *static_cast<fuse_binding*>(fuse_req_userdata(request)); }
filesystem& fs_of(fuse_req_t request) { return binding_of(request).fs; }

caller caller_of(fuse_req_t request) {
  const fuse_ctx* context = fuse_req_ctx(request);
  caller who{context->uid, context->gid, {}};
  // Root never needs its groups (clear_privileges), and calls come per write.
  if (who.uid == 0) return who;
  who.in_supplementary_group = [request](gid_t group) {
    std::vector<gid_t> groups(64);
    for (;;) {
      const int count = fuse_req_getgroups(request, static_cast<int>(groups.size()), groups.data());
      if (count < 0) return false;  // unknown (no /proc): as for a stranger
      if (static_cast<std::size_t>(count) <= groups.size()) {
        return std::find(groups.begin(), groups.begin() + count, group) != groups.begin() + count;
      }
      groups.resize(static_cast<std::size_t>(count));
    }
  };
  return who;
}

// The one boundary between the filesystem and libfuse: `body` computes a
// result and replies. A failure replies with its errno; if it carries a
// message, that is logged once here. An exception (only before any reply was
// sent) replies with its errno (an archive_error's, else EIO) and is logged.
template <typename Body>
void checked(fuse_req_t request, const char* operation, Body&& body) {
  try {
    body();
  } catch (const archive::archive_error& e) {
    fs_of(request).log().error("{}: {}", operation, e.what());
    fuse_reply_err(request, e.error_number());
  } catch (const std::exception& e) {
    fs_of(request).log().error("{}: {}", operation, e.what());
    fuse_reply_err(request, EIO);
  }
}

// Replies with the failure's errno (logging its message, if any).
void reply_failure(fuse_req_t request, const char* operation, const fs_error& error) {
  if (!error.message.empty()) fs_of(request).log().warning("{}: {}", operation, error.message);
  fuse_reply_err(request, error.code);
}

fuse_entry_param entry_of(const struct stat& attr) {
  fuse_entry_param entry{};
  entry.ino = attr.st_ino;
  entry.generation = 1;
  entry.attr = attr;
  entry.attr_timeout = kCacheSeconds;
  entry.entry_timeout = kCacheSeconds;
  return entry;
}

void reply_entry(fuse_req_t request, const char* operation, const result<struct stat>& attr) {
  if (!attr) return reply_failure(request, operation, attr.error());
  const fuse_entry_param entry = entry_of(*attr);
  fuse_reply_entry(request, &entry);
}

void reply_attr(fuse_req_t request, const char* operation, const result<struct stat>& attr) {
  if (attr)
    fuse_reply_attr(request, &*attr, kCacheSeconds);
  else
    reply_failure(request, operation, attr.error());
}

void reply_done(fuse_req_t request, const char* operation, const result<void>& done) {
  if (done)
    fuse_reply_err(request, 0);
  else
    reply_failure(request, operation, done.error());
}

void reply_xattr(fuse_req_t request, const char* operation, const result<std::string>& value, size_t size) {
  if (!value)
    reply_failure(request, operation, value.error());
  else if (size == 0)
    fuse_reply_xattr(request, value->size());
  else if (size < value->size())
    fuse_reply_err(request, ERANGE);
  else
    fuse_reply_buf(request, value->data(), value->size());
}

attribute_changes changes_of(const struct stat& attr, int to_set) {
  attribute_changes changes;
  if (to_set & FUSE_SET_ATTR_SIZE) changes.size = static_cast<std::uint64_t>(attr.st_size);
  if (to_set & FUSE_SET_ATTR_MODE) changes.permissions = attr.st_mode & 07777;
  if (to_set & FUSE_SET_ATTR_UID) changes.uid = attr.st_uid;
  if (to_set & FUSE_SET_ATTR_GID) changes.gid = attr.st_gid;
  if (to_set & FUSE_SET_ATTR_ATIME) changes.atime = attr.st_atim;
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) changes.atime = current_time();
  if (to_set & FUSE_SET_ATTR_MTIME) changes.mtime = attr.st_mtim;
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) changes.mtime = current_time();
  return changes;
}

void on_init(void* userdata, fuse_conn_info* connection) {
  static_cast<fuse_binding*>(userdata)->direct_writes =
      connection->proto_major > 7 || (connection->proto_major == 7 && connection->proto_minor >= 39);
  connection->max_write = kIoBytes;
  // O_TRUNC arrives with open (not as a separate truncate) when possible.
  if (connection->capable & FUSE_CAP_ATOMIC_O_TRUNC) connection->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  // sevenzfs-ctl's controls come as ioctls on the root directory.
  if (connection->capable & FUSE_CAP_IOCTL_DIR) connection->want |= FUSE_CAP_IOCTL_DIR;
  // No writeback cache: tried on 10,000 x 10 KB, the copy took 3.5-4.1 s
  // against 2.9-3.3 (the same round trips per small file, and the kernel's
  // writeback on top), and it would need reads through write-only handles
  // and O_APPEND left to the kernel first: the archive of that try lacked
  // bytes.
  connection->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
}

void on_lookup(fuse_req_t r, fuse_ino_t parent, const char* name) {
  checked(r, "lookup", [&] { reply_entry(r, "lookup", fs_of(r).lookup(parent, name)); });
}

// FORGET gets no reply to carry an error: a failure is only logged.
void forget_one(fuse_req_t r, fuse_ino_t ino, uint64_t count) {
  try {
    fs_of(r).forget(ino, count);
  } catch (const std::exception& e) {
    fs_of(r).log().error("forget: {}", e.what());
  }
}

void on_forget(fuse_req_t r, fuse_ino_t ino, uint64_t count) {
  forget_one(r, ino, count);
  fuse_reply_none(r);
}

void on_forget_multi(fuse_req_t r, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) forget_one(r, forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(r);
}

void on_getattr(fuse_req_t r, fuse_ino_t ino, fuse_file_info*) {
  checked(r, "getattr", [&] { reply_attr(r, "getattr", fs_of(r).getattr(ino)); });
}

void on_access(fuse_req_t r, fuse_ino_t ino, int mask) {
  checked(r, "access", [&] {
    const auto attr = fs_of(r).getattr(ino);
    if (!attr) return reply_failure(r, "access", attr.error());
    fuse_reply_err(r, access_allowed(*attr, mask, caller_of(r)) ? 0 : EACCES);
  });
}

void on_setattr(fuse_req_t r, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  checked(r, "setattr", [&] { reply_attr(r, "setattr", fs_of(r).setattr(ino, changes_of(*attr, to_set))); });
}

void on_readlink(fuse_req_t r, fuse_ino_t ino) {
  checked(r, "readlink", [&] {
    const auto target = fs_of(r).readlink(ino);
    if (target)
      fuse_reply_readlink(r, target->c_str());
    else
      reply_failure(r, "readlink", target.error());
  });
}

void on_mknod(fuse_req_t r, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
  checked(r, "mknod", [&] { reply_entry(r, "mknod", fs_of(r).mknod(parent, name, mode, caller_of(r))); });
}

void on_mkdir(fuse_req_t r, fuse_ino_t parent, const char* name, mode_t mode) {
  checked(r, "mkdir", [&] { reply_entry(r, "mkdir", fs_of(r).mkdir(parent, name, mode, caller_of(r))); });
}

void on_unlink(fuse_req_t r, fuse_ino_t parent, const char* name) {
  checked(r, "unlink", [&] { reply_done(r, "unlink", fs_of(r).unlink(parent, name)); });
}

void on_rmdir(fuse_req_t r, fuse_ino_t parent, const char* name) {
  checked(r, "rmdir", [&] { reply_done(r, "rmdir", fs_of(r).rmdir(parent, name)); });
}

void on_symlink(fuse_req_t r, const char* target, fuse_ino_t parent, const char* name) {
  checked(r, "symlink", [&] { reply_entry(r, "symlink", fs_of(r).symlink(target, parent, name, caller_of(r))); });
}

void on_rename(fuse_req_t r, fuse_ino_t parent, const char* name, fuse_ino_t new_parent, const char* new_name,
               unsigned int flags) {
  checked(r, "rename", [&] { reply_done(r, "rename", fs_of(r).rename(parent, name, new_parent, new_name, flags)); });
}

void on_link(fuse_req_t r, fuse_ino_t, fuse_ino_t, const char*) {
  checked(r, "link", [&] { reply_done(r, "link", fs_of(r).link()); });
}

// A write-only handle bypasses the page cache (direct I/O). Through the
// cache, each write(2) costs a GETXATTR of security.capability besides its
// WRITE (the kernel's check whether the write must drop privileges, never
// cached by FUSE): a fifth request for each small file copied in. A direct
// write sends the WRITE alone, and leaves dropping set-user-ID bits to the
// filesystem (filesystem::write). Such a handle can neither read nor be
// mapped, so it loses nothing of the cache. Only where the kernel drops
// other handles' cached pages of the range a direct write changes
// (protocol 7.39, Linux 6.6): before, a shared mapping could keep stale
// pages and write them back over the new bytes. Other handles keep their
// pages across opens with -o kernel_cache.
void choose_caching(fuse_req_t request, fuse_file_info* fi) {
  const fuse_binding& binding = binding_of(request);
  if (binding.direct_writes && (fi->flags & O_ACCMODE) == O_WRONLY) {
    fi->direct_io = 1;
  } else if (binding.fs.keeps_kernel_cache()) {
    fi->keep_cache = 1;
  }
}

void on_open(fuse_req_t r, fuse_ino_t ino, fuse_file_info* fi) {
  checked(r, "open", [&] {
    const auto opened = fs_of(r).open(ino, fi->flags, caller_of(r));
    if (!opened) return reply_failure(r, "open", opened.error());
    choose_caching(r, fi);
    fuse_reply_open(r, fi);
  });
}

void on_create(fuse_req_t r, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  checked(r, "create", [&] {
    const auto attr = fs_of(r).create(parent, name, mode, fi->flags, caller_of(r));
    if (!attr) return reply_failure(r, "create", attr.error());
    const fuse_entry_param entry = entry_of(*attr);
    choose_caching(r, fi);
    fuse_reply_create(r, &entry, fi);
  });
}

void on_read(fuse_req_t r, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info*) {
  checked(r, "read", [&] {
    thread_local std::vector<std::byte> buffer;
    if (buffer.size() < size) buffer.resize(size);
    const auto n = fs_of(r).read(ino, std::span(buffer.data(), size), offset);
    if (n)
      fuse_reply_buf(r, reinterpret_cast<const char*>(buffer.data()), *n);
    else
      reply_failure(r, "read", n.error());
  });
}

void on_write(fuse_req_t r, fuse_ino_t ino, const char* data, size_t size, off_t offset, fuse_file_info*) {
  checked(r, "write", [&] {
    const auto n = fs_of(r).write(ino, std::as_bytes(std::span(data, size)), offset, caller_of(r));
    if (n)
      fuse_reply_write(r, *n);
    else
      reply_failure(r, "write", n.error());
  });
}

void on_release(fuse_req_t r, fuse_ino_t ino, fuse_file_info* fi) {
  checked(r, "release", [&] {
    fs_of(r).release(ino, fi->flags);
    fuse_reply_err(r, 0);
  });
}

void on_fsync(fuse_req_t r, fuse_ino_t ino, int, fuse_file_info*) {
  checked(r, "fsync", [&] { reply_done(r, "fsync", fs_of(r).fsync_file(ino)); });
}

void on_opendir(fuse_req_t r, fuse_ino_t ino, fuse_file_info* fi) {
  checked(r, "opendir", [&] {
    const auto attr = fs_of(r).getattr(ino);
    if (!attr)
      reply_failure(r, "opendir", attr.error());
    else if (!S_ISDIR(attr->st_mode))
      fuse_reply_err(r, ENOTDIR);
    else
      fuse_reply_open(r, fi);
  });
}

void on_readdir(fuse_req_t r, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info*) {
  checked(r, "readdir", [&] {
    std::vector<char> buffer(size);
    std::size_t used = 0;
    const auto listed = fs_of(r).readdir(ino, offset, [&](std::string_view name, const struct stat& st, off_t next) {
      const std::string terminated(name);
      const std::size_t need = fuse_add_direntry(r, buffer.data() + used, size - used, terminated.c_str(), &st, next);
      if (need > size - used) return false;
      used += need;
      return true;
    });
    if (listed)
      fuse_reply_buf(r, buffer.data(), used);
    else
      reply_failure(r, "readdir", listed.error());
  });
}

void on_releasedir(fuse_req_t r, fuse_ino_t, fuse_file_info*) { fuse_reply_err(r, 0); }

void on_fsyncdir(fuse_req_t r, fuse_ino_t ino, int, fuse_file_info*) {
  checked(r, "fsyncdir", [&] { reply_done(r, "fsyncdir", fs_of(r).fsync_directory(ino)); });
}

void on_statfs(fuse_req_t r, fuse_ino_t) {
  checked(r, "statfs", [&] {
    const auto st = fs_of(r).statfs();
    fuse_reply_statfs(r, &st);
  });
}

void on_fallocate(fuse_req_t r, fuse_ino_t ino, int mode, off_t offset, off_t length, fuse_file_info*) {
  checked(r, "fallocate", [&] {
    if (offset < 0 || length <= 0) {
      fuse_reply_err(r, EINVAL);  // the kernel refuses these before asking
      return;
    }
    reply_done(r, "fallocate",
               fs_of(r).allocate(ino, mode, static_cast<std::uint64_t>(offset), static_cast<std::uint64_t>(length)));
  });
}

void on_setxattr(fuse_req_t r, fuse_ino_t ino, const char* name, const char* value, size_t size, int) {
  checked(r, "setxattr", [&] {
    reply_done(r, "setxattr", fs_of(r).setxattr(ino, name, std::string_view(value, size), caller_of(r)));
  });
}

// The controls of control_ioctl.hpp, as their attributes would be set.
void on_ioctl(fuse_req_t r, fuse_ino_t ino, unsigned cmd, void*, fuse_file_info*, unsigned, const void*, size_t,
              size_t) {
  const std::string_view control = control_xattr_of_ioctl(cmd);
  if (ino != FUSE_ROOT_ID || control.empty()) {
    fuse_reply_err(r, ENOTTY);
    return;
  }
  checked(r, "ioctl", [&] {
    const auto done = fs_of(r).setxattr(ino, control, "1", caller_of(r));
    if (done) {
      fuse_reply_ioctl(r, 0, nullptr, 0);
    } else {
      reply_failure(r, "ioctl", done.error());
    }
  });
}

void on_getxattr(fuse_req_t r, fuse_ino_t ino, const char* name, size_t size) {
  // The kernel asks for security.capability on every write: answer at once.
  if (std::strncmp(name, "user.", 5) != 0) {
    fuse_reply_err(r, ENODATA);
    return;
  }
  checked(r, "getxattr", [&] { reply_xattr(r, "getxattr", fs_of(r).getxattr(ino, name, size == 0), size); });
}

void on_listxattr(fuse_req_t r, fuse_ino_t ino, size_t size) {
  checked(r, "listxattr", [&] { reply_xattr(r, "listxattr", fs_of(r).listxattr(ino), size); });
}

// Our attributes are computed (stats_xattr::remove); 7z keeps no others.
void on_removexattr(fuse_req_t r, fuse_ino_t ino, const char* name) {
  if (std::strncmp(name, "user.sevenzfs.", 14) == 0) {
    checked(r, "removexattr", [&] { reply_done(r, "removexattr", fs_of(r).removexattr(ino, name)); });
    return;
  }
  fuse_reply_err(r, std::strncmp(name, "user.", 5) == 0 ? ENOTSUP : ENODATA);
}

}  // namespace

fuse_lowlevel_ops make_fuse_operations() {
  fuse_lowlevel_ops ops{};
  ops.init = on_init;
  ops.lookup = on_lookup;
  ops.forget = on_forget;
  ops.forget_multi = on_forget_multi;
  ops.getattr = on_getattr;
  ops.access = on_access;
  ops.setattr = on_setattr;
  ops.readlink = on_readlink;
  ops.mknod = on_mknod;
  ops.mkdir = on_mkdir;
  ops.unlink = on_unlink;
  ops.rmdir = on_rmdir;
  ops.symlink = on_symlink;
  ops.rename = on_rename;
  ops.link = on_link;
  ops.open = on_open;
  ops.create = on_create;
  ops.read = on_read;
  ops.write = on_write;
  // No flush: nothing to report at close(), and without it the kernel stops
  // sending FLUSH after the first ENOSYS (one round trip less per file).
  ops.release = on_release;
  ops.fsync = on_fsync;
  ops.fallocate = on_fallocate;
  ops.opendir = on_opendir;
  ops.readdir = on_readdir;
  ops.releasedir = on_releasedir;
  ops.fsyncdir = on_fsyncdir;
  ops.statfs = on_statfs;
  ops.ioctl = on_ioctl;
  ops.setxattr = on_setxattr;
  ops.getxattr = on_getxattr;
  ops.listxattr = on_listxattr;
  ops.removexattr = on_removexattr;
  return ops;
}

}  // namespace sevenzfs::fs
