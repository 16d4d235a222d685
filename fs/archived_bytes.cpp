#include "archived_bytes.hpp"

#include "archive/archive_error.hpp"

namespace sevenzfs::fs {

result<std::size_t> read_archived(archive::cached_reader& reader, const archived_bytes& where, std::uint64_t offset,
                                  std::span<std::byte> out) {
  try {
    return reader.read(*where.snapshot, where.stream, offset,
                       {reinterpret_cast<std::uint8_t*>(out.data()), out.size()});
  } catch (const archive::archive_error& e) {
    return failure(e.error_number(), e.what());
  }
}

}  // namespace sevenzfs::fs
