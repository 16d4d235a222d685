#pragma once
// The libfuse low-level callback table for a `filesystem` (passed as the
// session's userdata). This is the one boundary where results become FUSE
// replies: errors become negative errno replies, and any exception becomes
// EIO plus a log line; nothing is thrown into libfuse.
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>

namespace sevenzfs::fs {

fuse_lowlevel_ops make_fuse_operations();

}  // namespace sevenzfs::fs
