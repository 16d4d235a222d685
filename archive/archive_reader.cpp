#include "archive_reader.hpp"

#include "archive_error.hpp"
#include "byte_reader.hpp"
#include "crc32.hpp"
#include "file_io.hpp"
#include "header_parser.hpp"
#include "header_serializer.hpp"

#include <fmt/format.h>
#include <lzma.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <numeric>

namespace sevenzfs::archive {

namespace {

constexpr std::uint64_t kMaxHeaderBytes = std::uint64_t{1} << 32;

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  throw archive_error(error_kind::corrupt_archive, path, what);
}

std::vector<std::uint8_t> read_exactly(int fd, std::uint64_t offset, std::uint64_t size, const std::string& path) {
  std::vector<std::uint8_t> data(static_cast<std::size_t>(size));
  if (read_at(fd, offset, data, path) != data.size()) corrupt(path, "archive is truncated");
  return data;
}

std::vector<std::uint8_t> decode_header(const folder_info& folder, std::span<const std::uint8_t> packed,
                                        const std::string& path) {
  if (folder.coders.size() != 1)
    throw archive_error(error_kind::unsupported, path, "header compressed with a coder chain");
  const auto& coder = folder.coders.front();
  const auto& id = coder.method_id;
  if (folder.unpack_size() > kMaxHeaderBytes) corrupt(path, "header is impossibly large");
  if (id == kMethodCopy) return {packed.begin(), packed.end()};
  lzma_filter filters[2] = {{LZMA_VLI_UNKNOWN, nullptr}, {LZMA_VLI_UNKNOWN, nullptr}};
  if (id == kMethodLzma2)
    filters[0].id = LZMA_FILTER_LZMA2;
  else if (id == kMethodLzma)
    filters[0].id = LZMA_FILTER_LZMA1;
  else
    throw archive_error(error_kind::unsupported, path, "header compressed with an unsupported method");
  const auto& props = coder.properties;
  if (lzma_properties_decode(&filters[0], nullptr, props.data(), props.size()) != LZMA_OK) {
    corrupt(path, "bad header coder properties");
  }
  lzma_stream stream = LZMA_STREAM_INIT;
  const lzma_ret init = lzma_raw_decoder(&stream, filters);
  free(filters[0].options);  // copied into the decoder
  if (init != LZMA_OK) corrupt(path, "cannot start the header decoder");
  std::vector<std::uint8_t> header(static_cast<std::size_t>(folder.unpack_size()));
  stream.next_in = packed.data();
  stream.avail_in = packed.size();
  stream.next_out = header.data();
  stream.avail_out = header.size();
  const lzma_ret ret = lzma_code(&stream, LZMA_FINISH);
  const bool complete = stream.avail_out == 0;
  lzma_end(&stream);
  // LZMA1 has no end marker: a full output buffer is success.
  if (!complete || (ret != LZMA_OK && ret != LZMA_STREAM_END && ret != LZMA_BUF_ERROR)) {
    corrupt(path, "the compressed header does not decode");
  }
  return header;
}

}  // namespace

archive_layout read_archive(const std::string& path) {
  const unique_fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file) throw_io_error(path, "cannot open archive", errno);
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) throw_io_error(path, "cannot stat archive", errno);
  if (!S_ISREG(st.st_mode)) throw archive_error(error_kind::invalid_input, path, "not a regular file");
  archive_layout layout;
  layout.file_size = static_cast<std::uint64_t>(st.st_size);
  if (layout.file_size < kStartHeaderSize) corrupt(path, "not a 7z archive (too short)");
  const auto start = read_exactly(file.get(), 0, kStartHeaderSize, path);
  const std::array<std::uint8_t, 6> signature{0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C};
  if (!std::equal(signature.begin(), signature.end(), start.begin()))
    corrupt(path, "not a 7z archive (no 7z signature)");
  if (start[6] != 0) corrupt(path, fmt::format("unsupported 7z format version {}.{}", start[6], start[7]));
  byte_reader fields{std::span<const std::uint8_t>(start).subspan(8), path};
  const std::uint32_t start_crc = fields.u32_le();
  if (crc32::of(std::span(start).subspan(12)) != start_crc) corrupt(path, "damaged archive: start header CRC mismatch");
  const std::uint64_t next_offset = fields.u64_le();
  const std::uint64_t next_size = fields.u64_le();
  const std::uint32_t next_crc = fields.u32_le();
  if (next_size == 0) {
    if (next_offset != 0 || layout.file_size != kStartHeaderSize) {
      corrupt(path, "damaged or unfinished archive: the start header points to no header");
    }
    return layout;
  }
  if (next_size > kMaxHeaderBytes || next_offset > layout.file_size ||
      kStartHeaderSize + next_offset + next_size > layout.file_size) {
    corrupt(path, "damaged archive: the header lies beyond the end of the file");
  }
  layout.header_offset = kStartHeaderSize + next_offset;
  layout.header_start = layout.header_offset;
  layout.header_size = next_size;
  std::vector<std::uint8_t> header = read_exactly(file.get(), layout.header_offset, next_size, path);
  if (crc32::of(header) != next_crc) corrupt(path, "damaged archive: header CRC mismatch");

  for (int depth = 0; !header.empty() && header[0] == property_id::kEncodedHeader; ++depth) {
    if (depth == 4) corrupt(path, "too many nested encoded headers");
    const auto encoded = parse_encoded_header(header, path);
    const std::uint64_t packed_offset = kStartHeaderSize + encoded.pack_position;
    if (encoded.pack_size > kMaxHeaderBytes || packed_offset > layout.file_size ||
        encoded.pack_size > layout.file_size - packed_offset) {
      corrupt(path, "damaged archive: the packed header lies beyond the end of the file");
    }
    const auto packed = read_exactly(file.get(), packed_offset, encoded.pack_size, path);
    layout.header_start = std::min(layout.header_start, packed_offset);
    header = decode_header(encoded.folder, packed, path);
    if (encoded.folder.unpack_crc && crc32::of(header) != *encoded.folder.unpack_crc) {
      corrupt(path, "damaged archive: unpacked header CRC mismatch");
    }
  }
  layout.db = parse_header(header, path);
  const std::uint64_t packs =
      std::accumulate(layout.db.pack_sizes.begin(), layout.db.pack_sizes.end(), std::uint64_t{0});
  layout.packs_end = kStartHeaderSize + layout.db.pack_position + packs;
  if (layout.packs_end > layout.file_size)
    corrupt(path, "damaged archive: packed streams run past the end of the file");
  return layout;
}

}  // namespace sevenzfs::archive
