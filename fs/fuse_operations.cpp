#include "fuse_operations.hpp"

#include "filesystem.hpp"

#include <fmt/format.h>

#include <cstring>

namespace sevenzfs::fs {

namespace {

constexpr std::size_t kMaxWrite = 1 << 20;

filesystem& fs_of(fuse_req_t request) { return *static_cast<filesystem*>(fuse_req_userdata(request)); }

caller caller_of(fuse_req_t request) {
  const fuse_ctx* context = fuse_req_ctx(request);
  return {context->uid, context->gid};
}

// Runs `body`, which computes a result and replies; an exception (from a
// computation, before any reply was sent) becomes EIO and a log line.
template <typename Body>
void checked(fuse_req_t request, const char* operation, Body&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    fmt::print(stderr, "sevenzfs: {} failed: {}\n", operation, e.what());
    fuse_reply_err(request, EIO);
  } catch (...) {
    fmt::print(stderr, "sevenzfs: {} failed\n", operation);
    fuse_reply_err(request, EIO);
  }
}

void reply_entry(fuse_req_t request, const result<fuse_entry_param>& entry) {
  if (entry)
    fuse_reply_entry(request, &*entry);
  else
    fuse_reply_err(request, entry.error());
}

void reply_attr(fuse_req_t request, const result<struct stat>& attr) {
  if (attr)
    fuse_reply_attr(request, &*attr, 60.0);
  else
    fuse_reply_err(request, attr.error());
}

void on_init(void*, fuse_conn_info* connection) {
  connection->max_write = kMaxWrite;
  // O_TRUNC arrives with open (not as a separate truncate) when possible.
  if (connection->capable & FUSE_CAP_ATOMIC_O_TRUNC) connection->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  connection->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
}

void on_lookup(fuse_req_t r, fuse_ino_t parent, const char* name) {
  checked(r, "lookup", [&] { reply_entry(r, fs_of(r).lookup(parent, name)); });
}

void on_forget(fuse_req_t r, fuse_ino_t ino, uint64_t count) {
  try {
    fs_of(r).forget(ino, count);
  } catch (const std::exception& e) {
    fmt::print(stderr, "sevenzfs: forget failed: {}\n", e.what());
  }
  fuse_reply_none(r);
}

void on_forget_multi(fuse_req_t r, size_t count, fuse_forget_data* forgets) {
  try {
    for (size_t i = 0; i < count; ++i) fs_of(r).forget(forgets[i].ino, forgets[i].nlookup);
  } catch (const std::exception& e) {
    fmt::print(stderr, "sevenzfs: forget failed: {}\n", e.what());
  }
  fuse_reply_none(r);
}

void on_getattr(fuse_req_t r, fuse_ino_t ino, fuse_file_info*) {
  checked(r, "getattr", [&] { reply_attr(r, fs_of(r).getattr(ino)); });
}

void on_setattr(fuse_req_t r, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  checked(r, "setattr", [&] { reply_attr(r, fs_of(r).setattr(ino, *attr, to_set)); });
}

void on_readlink(fuse_req_t r, fuse_ino_t ino) {
  checked(r, "readlink", [&] {
    const auto target = fs_of(r).readlink(ino);
    if (target)
      fuse_reply_readlink(r, target->c_str());
    else
      fuse_reply_err(r, target.error());
  });
}

void on_mknod(fuse_req_t r, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
  checked(r, "mknod", [&] { reply_entry(r, fs_of(r).mknod(parent, name, mode, caller_of(r))); });
}

void on_mkdir(fuse_req_t r, fuse_ino_t parent, const char* name, mode_t mode) {
  checked(r, "mkdir", [&] { reply_entry(r, fs_of(r).mkdir(parent, name, mode, caller_of(r))); });
}

void on_unlink(fuse_req_t r, fuse_ino_t parent, const char* name) {
  checked(r, "unlink", [&] { fuse_reply_err(r, fs_of(r).unlink(parent, name)); });
}

void on_rmdir(fuse_req_t r, fuse_ino_t parent, const char* name) {
  checked(r, "rmdir", [&] { fuse_reply_err(r, fs_of(r).rmdir(parent, name)); });
}

void on_symlink(fuse_req_t r, const char* target, fuse_ino_t parent, const char* name) {
  checked(r, "symlink", [&] { reply_entry(r, fs_of(r).symlink(target, parent, name, caller_of(r))); });
}

void on_rename(fuse_req_t r, fuse_ino_t parent, const char* name, fuse_ino_t new_parent, const char* new_name,
               unsigned int flags) {
  checked(r, "rename", [&] { fuse_reply_err(r, fs_of(r).rename(parent, name, new_parent, new_name, flags)); });
}

void on_link(fuse_req_t r, fuse_ino_t, fuse_ino_t, const char*) {
  checked(r, "link", [&] { fuse_reply_err(r, fs_of(r).link()); });
}

void on_open(fuse_req_t r, fuse_ino_t ino, fuse_file_info* fi) {
  checked(r, "open", [&] {
    const int error = fs_of(r).open(ino, fi->flags);
    if (error != 0)
      fuse_reply_err(r, error);
    else
      fuse_reply_open(r, fi);
  });
}

void on_create(fuse_req_t r, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  checked(r, "create", [&] {
    const auto entry = fs_of(r).create(parent, name, mode, fi->flags, caller_of(r));
    if (entry)
      fuse_reply_create(r, &*entry, fi);
    else
      fuse_reply_err(r, entry.error());
  });
}

void on_read(fuse_req_t r, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info*) {
  checked(r, "read", [&] {
    thread_local std::vector<char> buffer;
    if (buffer.size() < size) buffer.resize(size);
    const auto n = fs_of(r).read(ino, buffer.data(), size, offset);
    if (n)
      fuse_reply_buf(r, buffer.data(), *n);
    else
      fuse_reply_err(r, n.error());
  });
}

void on_write(fuse_req_t r, fuse_ino_t ino, const char* data, size_t size, off_t offset, fuse_file_info*) {
  checked(r, "write", [&] {
    const auto n = fs_of(r).write(ino, data, size, offset);
    if (n)
      fuse_reply_write(r, *n);
    else
      fuse_reply_err(r, n.error());
  });
}

void on_release(fuse_req_t r, fuse_ino_t ino, fuse_file_info* fi) {
  checked(r, "release", [&] {
    fs_of(r).release(ino, fi->flags);
    fuse_reply_err(r, 0);
  });
}

void on_fsync(fuse_req_t r, fuse_ino_t, int, fuse_file_info*) {
  checked(r, "fsync", [&] { fuse_reply_err(r, fs_of(r).fsync()); });
}

void on_opendir(fuse_req_t r, fuse_ino_t ino, fuse_file_info* fi) {
  checked(r, "opendir", [&] {
    const auto attr = fs_of(r).getattr(ino);
    if (!attr)
      fuse_reply_err(r, attr.error());
    else if (!S_ISDIR(attr->st_mode))
      fuse_reply_err(r, ENOTDIR);
    else
      fuse_reply_open(r, fi);
  });
}

void on_readdir(fuse_req_t r, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info*) {
  checked(r, "readdir", [&] {
    std::vector<char> buffer(size);
    const auto used = fs_of(r).readdir(r, ino, buffer.data(), size, offset);
    if (used)
      fuse_reply_buf(r, buffer.data(), *used);
    else
      fuse_reply_err(r, used.error());
  });
}

void on_releasedir(fuse_req_t r, fuse_ino_t, fuse_file_info*) { fuse_reply_err(r, 0); }

void on_fsyncdir(fuse_req_t r, fuse_ino_t, int, fuse_file_info*) {
  checked(r, "fsyncdir", [&] { fuse_reply_err(r, fs_of(r).fsync()); });
}

void on_statfs(fuse_req_t r, fuse_ino_t) {
  checked(r, "statfs", [&] {
    const auto st = fs_of(r).statfs();
    fuse_reply_statfs(r, &st);
  });
}

void on_setxattr(fuse_req_t r, fuse_ino_t ino, const char* name, const char* value, size_t size, int) {
  checked(r, "setxattr", [&] { fuse_reply_err(r, fs_of(r).setxattr(ino, name, std::string_view(value, size))); });
}

void on_getxattr(fuse_req_t r, fuse_ino_t ino, const char* name, size_t size) {
  // The kernel asks for security.capability on every write: answer at once.
  if (std::strncmp(name, "user.", 5) != 0) {
    fuse_reply_err(r, ENODATA);
    return;
  }
  checked(r, "getxattr", [&] {
    const auto value = fs_of(r).getxattr(ino, name, size == 0);
    if (!value)
      fuse_reply_err(r, value.error());
    else if (size == 0)
      fuse_reply_xattr(r, value->size());
    else if (size < value->size())
      fuse_reply_err(r, ERANGE);
    else
      fuse_reply_buf(r, value->data(), value->size());
  });
}

void on_listxattr(fuse_req_t r, fuse_ino_t ino, size_t size) {
  checked(r, "listxattr", [&] {
    const auto list = fs_of(r).listxattr(ino);
    if (!list)
      fuse_reply_err(r, list.error());
    else if (size == 0)
      fuse_reply_xattr(r, list->size());
    else if (size < list->size())
      fuse_reply_err(r, ERANGE);
    else
      fuse_reply_buf(r, list->data(), list->size());
  });
}

void on_removexattr(fuse_req_t r, fuse_ino_t, const char* name) {
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
  ops.opendir = on_opendir;
  ops.readdir = on_readdir;
  ops.releasedir = on_releasedir;
  ops.fsyncdir = on_fsyncdir;
  ops.statfs = on_statfs;
  ops.setxattr = on_setxattr;
  ops.getxattr = on_getxattr;
  ops.listxattr = on_listxattr;
  ops.removexattr = on_removexattr;
  return ops;
}

}  // namespace sevenzfs::fs
