#include "folder_continuation.hpp"

namespace sevenzfs::archive {

std::optional<folder_continuation> continuation_of(const archive_snapshot& snapshot, std::uint64_t stream) {
  if (stream >= snapshot.substream_count()) return std::nullopt;
  const auto& where = snapshot.substream(stream);
  const auto& layout = snapshot.folder(where.folder);
  const folder_info& folder = snapshot.database().folders.at(where.folder);
  if (layout.substream_count != 1 || layout.packs.size() != 1 || !is_one_lzma2_stream(folder) || where.size == 0) {
    return std::nullopt;
  }
  const auto dict_size = lzma2_dictionary_of(folder.coders().front().properties[0]);
  std::optional<std::uint32_t> crc = snapshot.database().substream_crcs.at(stream);
  if (!crc) crc = folder.unpack_crc;
  const byte_range packed{layout.packs.front().offset, layout.packs.front().size};
  if (!dict_size || !crc) return std::nullopt;
  const auto chunks = walk_lzma2_chunks(snapshot.fd(), packed);
  if (!chunks || chunks->unpacked_bytes != where.size) return std::nullopt;
  return folder_continuation{snapshot.fd(), snapshot.path(),
                             packed,        packed.size - (chunks->ends_with_marker ? 1 : 0),
                             where.size,    *crc,
                             *dict_size,    chunks->last_dictionary_reset()};
}

}  // namespace sevenzfs::archive
