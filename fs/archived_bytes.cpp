#include "archived_bytes.hpp"

#include "archive/archive_error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

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

void archived_stream_content::visit(const archive::span_sink& sink) const {
  constexpr std::uint64_t kReadBytes = 1 << 20;
  std::vector<std::uint8_t> buffer(static_cast<std::size_t>(std::min(kReadBytes, size_)));
  for (std::uint64_t offset = 0; offset < size_;) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), size_ - offset));
    const std::size_t got = reader_.read(*snapshot_, stream_, offset, std::span(buffer.data(), want));
    if (got == 0) {
      throw archive::archive_error(
          archive::error_kind::corrupt_archive, snapshot_->path(),
          fmt::format("{} holds fewer bytes than its header says", snapshot_->substream_name(stream_)));
    }
    sink(std::span<const std::uint8_t>(buffer.data(), got));
    offset += got;
  }
}

}  // namespace sevenzfs::fs
