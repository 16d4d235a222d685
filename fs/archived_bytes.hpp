#pragma once
// Where a file's bytes lie in an archive state — the archive as committed, or
// a pending file of the streaming compressor — and reading them from there.
#include "result.hpp"

#include "archive/archive_snapshot.hpp"
#include "archive/cached_reader.hpp"

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

}  // namespace sevenzfs::fs
