#pragma once
// Where a file's bytes lie in an archive state — the archive as committed, or
// a pending file of the streaming compressor — and reading them from there.
#include "result.hpp"

#include "archive/archive_snapshot.hpp"
#include "archive/cached_reader.hpp"
#include "archive/entry.hpp"

#include <cstdint>
#include <memory>
#include <span>

namespace sevenzfs::fs {

// Enough to read the bytes without the file's lock (the snapshot keeps its
// own descriptor).
struct archived_bytes {
  std::shared_ptr<const archive::archive_snapshot> snapshot;
  std::uint64_t stream = 0;  // in snapshot
  std::uint64_t size = 0;
};

// Reads archived bytes; a failure carries the errno and a message naming the file.
result<std::size_t> read_archived(archive::cached_reader& reader, const archived_bytes& where, std::uint64_t offset,
                                  std::span<std::byte> out);

// The first `size` bytes of a substream of an archive state as entry
// content, decoded through a cached reader as the compressor asks for them.
// Throws archive_error when the stream holds fewer.
class archived_stream_content final : public archive::entry_content {
 public:
  archived_stream_content(archive::cached_reader& reader, std::shared_ptr<const archive::archive_snapshot> snapshot,
                          std::uint64_t stream, std::uint64_t size)
      : reader_(reader), snapshot_(std::move(snapshot)), stream_(stream), size_(size) {}
  void visit(const archive::span_sink& sink) const override;

 private:
  archive::cached_reader& reader_;
  std::shared_ptr<const archive::archive_snapshot> snapshot_;
  std::uint64_t stream_;
  std::uint64_t size_;
};

}  // namespace sevenzfs::fs
