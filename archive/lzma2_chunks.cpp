#include "lzma2_chunks.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>

namespace sevenzfs::archive {

std::optional<std::uint32_t> lzma2_dictionary_of(std::uint8_t property) noexcept {
  if (property > 40) return std::nullopt;
  if (property == 40) return UINT32_MAX;
  return (std::uint32_t{2} | (property & 1u)) << (property / 2 + 11);
}

bool is_one_lzma2_stream(const folder_info& folder) noexcept {
  return folder.coders().size() == 1 && folder.coders().front().method_id == kMethodLzma2 &&
         folder.coders().front().properties.size() == 1 && folder.packed_streams().size() == 1 &&
         folder.unpack_sizes.size() == 1;
}

std::optional<lzma2_chunks> walk_lzma2_chunks(int fd, byte_range packed) {
  // Control bytes: 0x00 ends the stream; 0x01 (dictionary reset) and 0x02
  // head an uncompressed chunk (2 bytes: size - 1); 0x80-0xFF head an LZMA
  // chunk (low 5 bits and 2 bytes: unpacked size - 1; 2 bytes: packed size
  // - 1; a properties byte from 0xC0 on), resetting the dictionary from 0xE0
  // on. Anything else is not LZMA2.
  lzma2_chunks chunks;
  std::uint64_t at = 0;
  while (at < packed.size) {
    std::array<std::uint8_t, 6> header{};
    const auto wanted = static_cast<std::size_t>(std::min<std::uint64_t>(header.size(), packed.size - at));
    if (::pread(fd, header.data(), wanted, static_cast<off_t>(packed.offset + at)) != static_cast<ssize_t>(wanted)) {
      return std::nullopt;
    }
    const std::uint8_t control = header[0];
    const auto two_bytes = [&](std::size_t k) { return (std::uint64_t{header[k]} << 8 | header[k + 1]) + 1; };
    if (control == 0x00) {
      if (at + 1 != packed.size) return std::nullopt;
      return chunks;
    }
    const bool resets = control == 0x01 || control >= 0xE0;
    if (at == 0 && !resets) return std::nullopt;
    if (resets) chunks.resets.push_back({chunks.unpacked_bytes, at});
    if (control == 0x01 || control == 0x02) {
      if (wanted < 3) return std::nullopt;
      const std::uint64_t size = two_bytes(1);
      chunks.unpacked_bytes += size;
      at += 3 + size;
    } else if (control >= 0x80) {
      const std::size_t header_size = control >= 0xC0 ? 6 : 5;
      if (wanted < header_size) return std::nullopt;
      chunks.unpacked_bytes += (std::uint64_t{control & 0x1Fu} << 16) + two_bytes(1);
      at += header_size + two_bytes(3);
    } else {
      return std::nullopt;
    }
  }
  if (at != packed.size || chunks.resets.empty()) return std::nullopt;  // the last chunk overruns, or no chunk
  chunks.ends_with_marker = false;
  return chunks;
}

}  // namespace sevenzfs::archive
