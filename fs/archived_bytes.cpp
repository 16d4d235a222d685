#include "archived_bytes.hpp"

#include "archive/archive_error.hpp"
#include "archive/folder_continuation.hpp"
#include "archive/lzma_settings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace sevenzfs::fs {

bool continuable(int level, const archived_bytes& where) {
  return level > 0 && archive::continuation_of(*where.snapshot, where.stream).has_value();
}

std::uint64_t primer_bytes_at(int level) {
  return level > 0 ? archive::lzma2_options_for(level, UINT64_MAX).dict_size : 0;
}

std::optional<std::string> undroppable(const archived_bytes& where) {
  const auto method = where.snapshot->unsupported_method(where.stream);
  if (!method) return std::nullopt;
  const std::size_t folder = where.snapshot->substream(where.stream).folder;
  const std::uint64_t others = where.snapshot->database().substream_counts.at(folder) - 1;
  if (others == 0) return std::nullopt;  // the folder goes with it
  return fmt::format(
      "its archived copy shares a {} folder with {} other file(s), which sevenzfs cannot compress again without it: "
      "the file can be renamed, but not removed, replaced or changed (7zz d can remove it)",
      *method, others);
}

result<std::size_t> read_archived(archive::cached_reader& reader, const archived_bytes& where, std::uint64_t offset,
                                  std::span<std::byte> out) {
  try {
    return reader.read(*where.snapshot, where.stream, offset,
                       {reinterpret_cast<std::uint8_t*>(out.data()), out.size()});
  } catch (const archive::archive_error& e) {
    return failure(e.error_number(), e.what());
  }
}

void archived_stream_content::visit_range(std::uint64_t offset, std::uint64_t size,
                                          const archive::span_sink& sink) const {
  constexpr std::uint64_t kReadBytes = 1 << 20;
  const std::uint64_t end = offset + std::min(size, size_ - std::min(offset, size_));
  std::vector<std::uint8_t> buffer(static_cast<std::size_t>(std::min(kReadBytes, end - offset)));
  while (offset < end) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), end - offset));
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

void appended_content::visit(const archive::span_sink& sink) const {
  start_.visit(sink);
  rest_->visit(sink);
}

void appended_content::visit_range(std::uint64_t offset, std::uint64_t size, const archive::span_sink& sink) const {
  if (offset < start_bytes_) {
    const std::uint64_t head = std::min(size, start_bytes_ - offset);
    start_.visit_range(offset, head, sink);
    offset += head;
    size -= head;
  }
  if (size > 0) rest_->visit_range(offset - start_bytes_, size, sink);
}

std::optional<archive::entry_content::archived_start> appended_content::starts_archived() const {
  if (vouched_ == 0) return std::nullopt;
  return archived_start{vouched_, start_bytes_};
}

}  // namespace sevenzfs::fs
