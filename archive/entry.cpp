#include "entry.hpp"

#include <sys/stat.h>

namespace sevenzfs::archive {

std::uint32_t type_bits(entry_kind kind) noexcept {
  switch (kind) {
    case entry_kind::directory: return S_IFDIR;
    case entry_kind::symlink: return S_IFLNK;
    case entry_kind::file: return S_IFREG;
  }
  return S_IFREG;
}

std::optional<entry_kind> kind_of_mode(std::uint32_t st_mode) noexcept {
  if (S_ISDIR(st_mode)) return entry_kind::directory;
  if (S_ISLNK(st_mode)) return entry_kind::symlink;
  if (S_ISREG(st_mode)) return entry_kind::file;
  return std::nullopt;
}

std::uint32_t unix_mode_of(const entry& e) noexcept { return type_bits(e.kind) | (e.mode & 07777); }

}  // namespace sevenzfs::archive
