#include "entry.hpp"

#include <sys/stat.h>

namespace sevenzfs::archive {

std::uint32_t unix_mode_of(const entry& e) noexcept {
  std::uint32_t type = S_IFREG;
  if (e.kind == entry_kind::directory) type = S_IFDIR;
  if (e.kind == entry_kind::symlink) type = S_IFLNK;
  return type | (e.mode & 07777);
}

}  // namespace sevenzfs::archive
