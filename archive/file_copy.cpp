#include "file_copy.hpp"

#include "archive_error.hpp"
#include "file_io.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace sevenzfs::archive {

namespace {

constexpr std::uint64_t kChunkBytes = std::uint64_t{1} << 20;  // kernel and fallback copies alike

[[noreturn]] void source_too_short(const std::string& from_path) {
  throw archive_error(error_kind::corrupt_archive, from_path, "packed data ends before its declared size");
}

// Errors after which read/write still works: no copy_file_range here, or
// not between these two files (different filesystems on older kernels,
// filesystems that do not implement it).
bool kernel_copy_unavailable(int errnum) noexcept {
  return errnum == ENOSYS || errnum == EXDEV || errnum == EINVAL || errnum == EOPNOTSUPP || errnum == EBADF;
}

void copy_through_memory(int from, std::uint64_t from_offset, const std::string& from_path, int to,
                         std::uint64_t to_offset, const std::string& to_path, std::uint64_t size) {
  std::vector<std::uint8_t> buffer(static_cast<std::size_t>(std::min(size, kChunkBytes)));
  for (std::uint64_t done = 0; done < size;) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), size - done));
    const std::size_t n = read_at(from, from_offset + done, std::span(buffer.data(), want), from_path);
    if (n == 0) source_too_short(from_path);
    write_at(to, to_offset + done, std::span<const std::uint8_t>(buffer.data(), n), to_path);
    done += n;
  }
}

}  // namespace

void copy_file_bytes(int from, std::uint64_t from_offset, const std::string& from_path, int to, std::uint64_t to_offset,
                     const std::string& to_path, std::uint64_t size) {
  std::uint64_t done = 0;
  while (done < size) {
    auto in = static_cast<off_t>(from_offset + done);
    auto out = static_cast<off_t>(to_offset + done);
    const auto want = static_cast<std::size_t>(std::min(size - done, kChunkBytes));
    const ssize_t n = ::copy_file_range(from, &in, to, &out, want, 0);
    if (n < 0 && errno == EINTR) continue;
    // What the kernel will not copy (at the start or later) goes through memory.
    if (n < 0 && kernel_copy_unavailable(errno)) break;
    if (n < 0) throw_io_error(to_path, "cannot copy packed data", errno);
    if (n == 0) source_too_short(from_path);
    done += static_cast<std::uint64_t>(n);
  }
  if (done < size) {
    copy_through_memory(from, from_offset + done, from_path, to, to_offset + done, to_path, size - done);
  }
}

}  // namespace sevenzfs::archive
