#include "archive_reader.hpp"

#include "archive_error.hpp"
#include "archive_limits.hpp"
#include "byte_reader.hpp"
#include "crc32.hpp"
#include "file_io.hpp"
#include "header_decoder.hpp"
#include "header_parser.hpp"
#include "header_serializer.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace sevenzfs::archive {

namespace {

// 7-Zip unpacks an encoded header whose content is itself encoded; nobody
// writes more than one level.
constexpr int kMaxEncodedHeaderLevels = 4;

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  throw archive_error(error_kind::corrupt_archive, path, what);
}

// [offset, offset + size) as a range inside a file of `file_size` bytes, or
// nullopt when it wraps or runs past the end.
std::optional<byte_range> range_in_file(std::uint64_t offset, std::uint64_t size, std::uint64_t file_size) {
  const auto end = checked_add(offset, size);
  if (!end || *end > file_size) return std::nullopt;
  return byte_range{offset, size};
}

bool overlap(const byte_range& a, const byte_range& b) {
  return a.size != 0 && b.size != 0 && a.offset < b.end() && b.offset < a.end();
}

std::vector<std::uint8_t> read_range(int fd, const byte_range& range, const std::string& path) {
  std::vector<std::uint8_t> data(static_cast<std::size_t>(range.size));
  if (read_at(fd, range.offset, data, path) != data.size()) corrupt(path, "the archive is truncated");
  return data;
}

struct next_header {
  byte_range range;
  std::uint32_t crc = 0;
};

// Reads the start header: where the header is, and its CRC.
next_header read_start_header(int fd, std::uint64_t file_size, const std::string& path) {
  if (file_size < kStartHeaderSize) corrupt(path, "not a 7z archive (too short)");
  const auto start = read_range(fd, {0, kStartHeaderSize}, path);
  if (!std::equal(kSignature.begin(), kSignature.end(), start.begin()))
    corrupt(path, "not a 7z archive (no 7z signature)");
  if (start[6] != 0) {
    throw archive_error(error_kind::unsupported, path,
                        fmt::format("unsupported 7z format version {}.{}", start[6], start[7]));
  }
  // 7-Zip writes the start header last: all zeros means it never got there.
  if (std::all_of(start.begin() + 8, start.end(), [](std::uint8_t b) { return b == 0; }) &&
      file_size > kStartHeaderSize) {
    corrupt(path, "unfinished archive: its start header was never written");
  }
  byte_reader fields{std::span<const std::uint8_t>(start).subspan(8), path};
  const std::uint32_t start_crc = fields.u32_le();
  if (crc32::of(std::span(start).subspan(12)) != start_crc) corrupt(path, "damaged archive: start header CRC mismatch");
  const std::uint64_t next_offset = fields.u64_le();
  const std::uint64_t next_size = fields.u64_le();
  const std::uint32_t next_crc = fields.u32_le();
  if (next_size == 0) {
    if (next_offset != 0 || file_size != kStartHeaderSize) {
      corrupt(path, "damaged or unfinished archive: the start header points to no header");
    }
    return {{kStartHeaderSize, 0}, 0};
  }
  const auto offset = checked_add(kStartHeaderSize, next_offset);
  const auto header = offset ? range_in_file(*offset, next_size, file_size) : std::nullopt;
  if (!header) corrupt(path, "damaged archive: the header lies beyond the end of the file");
  if (next_size > kMaxHeaderBytes) {
    throw archive_error(error_kind::unsupported, path,
                        fmt::format("the header is larger than {} MiB", kMaxHeaderBytes >> 20));
  }
  return {*header, next_crc};
}

}  // namespace

void check_regular_file(const struct stat& st, const std::string& path) {
  if (S_ISREG(st.st_mode)) return;
  const char* what = S_ISDIR(st.st_mode)    ? "a directory"
                     : S_ISFIFO(st.st_mode) ? "a FIFO"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                     : S_ISCHR(st.st_mode)  ? "a character device"
                     : S_ISBLK(st.st_mode)  ? "a block device"
                                            : "not a regular file";
  throw archive_error(error_kind::invalid_input, path, fmt::format("not an archive: {}", what),
                      S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
}

archive_layout read_archive(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw_io_error(path, "cannot open archive", errno);
  check_regular_file(st, path);
  // O_NONBLOCK: should a FIFO replace the file after the check, the open
  // still returns (and the check in the other read_archive refuses it).
  unique_fd file(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!file) throw_io_error(path, "cannot open archive", errno);
  archive_layout layout = read_archive(file.get(), path);
  layout.file = std::move(file);
  return layout;
}

archive_layout read_archive(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_io_error(path, "cannot stat archive", errno);
  check_regular_file(st, path);
  archive_layout layout;
  layout.file_size = static_cast<std::uint64_t>(st.st_size);
  const auto [header_range, header_crc] = read_start_header(fd, layout.file_size, path);
  layout.header_offset = header_range.offset;
  layout.header_start = header_range.offset;
  layout.header_size = header_range.size;
  if (header_range.size == 0) return layout;

  std::vector<std::uint8_t> header = read_range(fd, header_range, path);
  if (crc32::of(header) != header_crc) corrupt(path, "damaged archive: header CRC mismatch");
  std::vector<byte_range> packed_headers;
  std::optional<folder_info> folder;  // the outermost encoding's coder
  for (int level = 0; !header.empty() && header[0] == property_id::kEncodedHeader; ++level) {
    if (level == kMaxEncodedHeaderLevels) corrupt(path, "damaged archive: too many nested encoded headers");
    const auto encoded = parse_encoded_header(header, path);
    const auto offset = checked_add(kStartHeaderSize, encoded.pack_position);
    const auto packed = offset ? range_in_file(*offset, encoded.pack_size, layout.file_size) : std::nullopt;
    if (!packed) corrupt(path, "damaged archive: the packed header lies beyond the end of the file");
    if (overlap(*packed, header_range)) corrupt(path, "damaged archive: the packed header overlaps the header");
    header = decode_packed_header(fd, packed->offset, packed->size, encoded.folder, path);
    if (encoded.folder.unpack_crc && crc32::of(header) != *encoded.folder.unpack_crc) {
      corrupt(path, "damaged archive: unpacked header CRC mismatch");
    }
    packed_headers.push_back(*packed);
    if (level == 0) folder = encoded.folder;
    layout.header_start = std::min(layout.header_start, packed->offset);
  }
  // One level, its packed stream right before the block: as every writer makes it.
  if (packed_headers.size() == 1 && packed_headers[0].end() == header_range.offset) layout.header_folder = folder;
  layout.db = parse_header(header, path);

  std::uint64_t packs = 0;
  for (auto size : layout.db.pack_sizes) packs += size;  // cannot wrap: parse_header checked the sum
  const auto main_packs = range_in_file(layout.packs_start(), packs, layout.file_size);
  if (!main_packs) corrupt(path, "damaged archive: packed streams run past the end of the file");
  const bool overlaps_header =
      std::ranges::any_of(packed_headers, [&](const byte_range& r) { return overlap(*main_packs, r); }) ||
      overlap(*main_packs, header_range);
  if (overlaps_header) corrupt(path, "damaged archive: packed streams overlap the header");
  layout.packs_end = main_packs->end();
  return layout;
}

}  // namespace sevenzfs::archive
