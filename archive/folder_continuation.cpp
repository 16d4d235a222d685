#include "folder_continuation.hpp"

#include <unistd.h>

namespace sevenzfs::archive {

std::optional<std::uint32_t> lzma2_dictionary_of(std::uint8_t property) noexcept {
  if (property > 40) return std::nullopt;
  if (property == 40) return UINT32_MAX;
  return (std::uint32_t{2} | (property & 1u)) << (property / 2 + 11);
}

std::optional<folder_continuation> continuation_of(const archive_snapshot& snapshot, std::uint64_t stream) {
  if (stream >= snapshot.substream_count()) return std::nullopt;
  const auto& where = snapshot.substream(stream);
  const auto& layout = snapshot.folder(where.folder);
  const folder_info& folder = snapshot.database().folders.at(where.folder);
  if (layout.substream_count != 1 || layout.packs.size() != 1 || folder.coders.size() != 1 || where.size == 0) {
    return std::nullopt;
  }
  const coder_info& coder = folder.coders.front();
  if (coder.method_id != kMethodLzma2 || coder.properties.size() != 1) return std::nullopt;
  const auto dict_size = lzma2_dictionary_of(coder.properties[0]);
  std::optional<std::uint32_t> crc = snapshot.database().substream_crcs.at(stream);
  if (!crc) crc = folder.unpack_crc;
  const auto& packed = layout.packs.front();
  if (!dict_size || !crc || packed.size < 2) return std::nullopt;
  std::uint8_t last = 0xFF;
  if (::pread(snapshot.fd(), &last, 1, static_cast<off_t>(packed.offset + packed.size - 1)) != 1 || last != 0) {
    return std::nullopt;
  }
  return folder_continuation{snapshot.fd(), snapshot.path(), {packed.offset, packed.size}, where.size,
                             *crc,          *dict_size};
}

}  // namespace sevenzfs::archive
