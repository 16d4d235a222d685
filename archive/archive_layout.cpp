#include "archive_layout.hpp"

#include <algorithm>

namespace sevenzfs::archive {

std::vector<byte_range> dead_ranges(const archive_layout& layout) {
  std::vector<byte_range> used{{0, kStartHeaderSize},
                               {layout.packs_start(), layout.packs_end - layout.packs_start()},
                               {layout.header_start, layout.header_offset + layout.header_size - layout.header_start}};
  std::ranges::sort(used, {}, &byte_range::offset);
  std::vector<byte_range> dead;
  std::uint64_t covered = 0;
  for (const auto& range : used) {
    if (range.size == 0) continue;
    if (range.offset > covered) dead.push_back({covered, range.offset - covered});
    covered = std::max(covered, range.end());
  }
  if (layout.file_size > covered) dead.push_back({covered, layout.file_size - covered});
  return dead;
}

std::uint64_t dead_bytes(const archive_layout& layout) {
  std::uint64_t total = 0;
  for (const auto& range : dead_ranges(layout)) total += range.size;
  return total;
}

}  // namespace sevenzfs::archive
