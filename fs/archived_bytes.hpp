#pragma once
// Where a file's bytes lie in an archive state — the archive as committed, or
// a pending file of the streaming compressor — and reading them from there.
#include "result.hpp"

#include "archive/archive_snapshot.hpp"
#include "archive/cached_reader.hpp"
#include "archive/entry.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace sevenzfs::fs {

// Enough to read the bytes without the file's lock (the snapshot keeps its
// own descriptor).
struct archived_bytes {
  std::shared_ptr<const archive::archive_snapshot> snapshot;
  std::uint64_t stream = 0;  // in snapshot
  std::uint64_t size = 0;
};

// Whether a commit at compression `level` can go on from the folder of
// `where` without decoding it (see folder_continuation.hpp).
bool continuable(int level, const archived_bytes& where);
// The most a commit at `level` primes its encoder with before appended bytes
// (the level's dictionary; 0 at level 0, which never continues).
std::uint64_t primer_bytes_at(int level);

// Why no commit can drop `where` from the archive (nullopt: one can): its
// folder uses a method sevenzfs cannot decode and holds other files, which a
// commit cannot separate from it. Dropped anyway, the copy would stay in the
// archive under its name: a removed file back after a remount, a replaced
// one archived twice.
std::optional<std::string> undroppable(const archived_bytes& where);

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
  void visit(const archive::span_sink& sink) const override { visit_range(0, size_, sink); }
  void visit_range(std::uint64_t offset, std::uint64_t size, const archive::span_sink& sink) const override;

 private:
  archive::cached_reader& reader_;
  std::shared_ptr<const archive::archive_snapshot> snapshot_;
  std::uint64_t stream_;
  std::uint64_t size_;
};

// A file appended to without being read back: its first `start` bytes are
// the archive's copy's (decoded when read), the rest are local bytes. When
// `vouched` is not 0, the file's first `vouched` bytes are known to equal
// the archive's copy (nothing was written below them since), which a
// continuation of that copy trusts without reading them.
class appended_content final : public archive::entry_content {
 public:
  appended_content(archive::cached_reader& reader, const archived_bytes& archived, std::uint64_t start,
                   std::shared_ptr<const archive::entry_content> rest, std::uint64_t vouched)
      : start_(reader, archived.snapshot, archived.stream, start),
        start_bytes_(start),
        rest_(std::move(rest)),
        vouched_(vouched) {}
  void visit(const archive::span_sink& sink) const override;
  void visit_range(std::uint64_t offset, std::uint64_t size, const archive::span_sink& sink) const override;
  std::optional<archived_start> starts_archived() const override;

 private:
  archived_stream_content start_;
  std::uint64_t start_bytes_;
  std::shared_ptr<const archive::entry_content> rest_;
  std::uint64_t vouched_;
};

}  // namespace sevenzfs::fs
