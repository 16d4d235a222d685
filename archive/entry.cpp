#include "entry.hpp"

#include <sys/stat.h>

#include <algorithm>

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

void entry_content::visit_range(std::uint64_t offset, std::uint64_t size, const span_sink& sink) const {
  std::uint64_t position = 0;
  const std::uint64_t end = offset + size;
  visit([&](std::span<const std::uint8_t> bytes) {
    const std::uint64_t from = std::max(position, offset);
    const std::uint64_t to = std::min(position + bytes.size(), end);
    if (from < to) sink(bytes.subspan(static_cast<std::size_t>(from - position), static_cast<std::size_t>(to - from)));
    position += bytes.size();
  });
}

std::uint32_t unix_mode_of(const entry& e) noexcept { return type_bits(e.kind) | (e.mode & 07777); }

}  // namespace sevenzfs::archive
