#include "daemon.hpp"

#include <malloc.h>

#include <cstdio>

int main(int argc, char** argv) {
  // Buffers of a megabyte and more (primers, packed parts, headers) come
  // and go with every part: mapped for themselves they go back to the
  // kernel when freed. glibc's default raises this threshold to the largest
  // buffer freed so far (up to 32 MiB), after which they stay in the arenas
  // and the daemon's RSS keeps what it once held (measured: 40 MiB over the
  // memory bound with a 128 MiB pool). A fixed threshold stops that.
  ::mallopt(M_MMAP_THRESHOLD, 1 << 20);
  // Fixing that threshold also fixes the trim threshold at its default,
  // 128 KiB: an arena gave back the free memory at its top as soon as it
  // passed that, and got it again page fault by page fault. Compressing one
  // small file after another frees and allocates an encoder's tables (about
  // a megabyte) each time, so each file paid those faults (blobcache,
  // batched: 12-13 s of the daemon's system time, 7 s with 8 MiB kept).
  // Tables of a megabyte and more are still mapped for themselves; each
  // arena (glibc makes up to 8 per core) may keep 8 MiB more resident.
  ::mallopt(M_TRIM_THRESHOLD, 8 << 20);
  return sevenzfs::fs::run_daemon(std::vector<std::string>(argv + 1, argv + argc), stdout, stderr);
}
