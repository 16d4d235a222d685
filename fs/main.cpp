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
  return sevenzfs::fs::run_daemon(std::vector<std::string>(argv + 1, argv + argc), stdout, stderr);
}
