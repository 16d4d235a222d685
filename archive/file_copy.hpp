#pragma once
// Copies byte ranges between files without passing them through user space
// where the kernel can (copy_file_range: on the same filesystem it may share
// extents or copy inside the kernel), with read/write where it cannot. Used
// to carry kept folders' packed bytes verbatim into a rewritten archive.
#include <cstdint>
#include <string>

namespace sevenzfs::archive {

// Copies `size` bytes at `from_offset` of `from` to `to_offset` of `to`.
// Throws archive_error: io for a failed call (naming the file it concerns),
// corrupt_archive when `from` ends before the range does.
void copy_file_bytes(int from, std::uint64_t from_offset, const std::string& from_path, int to, std::uint64_t to_offset,
                     const std::string& to_path, std::uint64_t size);

}  // namespace sevenzfs::archive
