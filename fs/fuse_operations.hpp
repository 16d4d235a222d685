#pragma once
// The libfuse low-level callback table for a `filesystem` (reached through
// a fuse_binding, the session's userdata). This is the one boundary where results become FUSE
// replies: errors become negative errno replies, and any exception becomes
// EIO plus a log line; nothing is thrown into libfuse.
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>

namespace sevenzfs::fs {

class filesystem;

// What the callbacks reach through the session's userdata: the filesystem,
// and what the FUSE layer learns of the kernel and keeps of the session.
struct fuse_binding {
  explicit fuse_binding(filesystem& served) : fs(served) {}
  filesystem& fs;
  fuse_session* session = nullptr;  // set before the session is mounted
  bool direct_writes = false;       // set at INIT: write-only handles go direct
};

fuse_lowlevel_ops make_fuse_operations();

}  // namespace sevenzfs::fs
