#pragma once
// Where the parts of an archive lie in its file: what read_archive finds and
// what the writer and the appender leave on disk.
#include "archive_database.hpp"
#include "file_io.hpp"
#include "header_serializer.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace sevenzfs::archive {

struct byte_range {
  std::uint64_t offset = 0;  // absolute
  std::uint64_t size = 0;

  std::uint64_t end() const noexcept { return offset + size; }
  friend bool operator==(const byte_range&, const byte_range&) = default;
};

// Where a written header lies: the start of its bytes (the packed header
// stream of an encoded header comes first), the block the start header
// points to, and its size; and for an encoded header, its coder.
struct header_location {
  std::uint64_t start = 32;
  std::uint64_t offset = 32;
  std::uint64_t size = 0;
  std::optional<folder_info> folder;
  std::uint64_t end() const noexcept { return offset + size; }
};

struct archive_layout {
  archive_database db;
  std::uint64_t packs_end = 32;      // absolute offset where the main pack streams end
  std::uint64_t header_start = 32;   // where the header's bytes begin (an encoded header's packed stream)
  std::uint64_t header_offset = 32;  // absolute offset of the header the start header points to
  std::uint64_t header_size = 0;
  // An encoded header's coder, when its packed stream (header_start to
  // header_offset) unpacks to the header in one step: then the header can be
  // moved without decoding it (archive_appender's commits). Empty for a plain
  // header, and for one encoded twice.
  std::optional<folder_info> header_folder;
  std::uint64_t file_size = 32;
  // The file described, open for positioned reads, when it was just read or
  // written: the snapshot of this state reads through it.
  unique_fd file;

  void set_header(const header_location& where) {
    header_start = where.start;
    header_offset = where.offset;
    header_size = where.size;
    header_folder = where.folder;
  }

  // Absolute offset of the first main pack stream (packs_end when there is none).
  std::uint64_t packs_start() const noexcept { return kStartHeaderSize + db.pack_position; }
};

// The ranges of the file that nothing refers to ("dead bytes"): not the
// start header, not a main pack stream, not the header with its packed
// stream (header_start to the end of the header). A crash during an append
// leaves some; 7-Zip and a finished commit leave none. Ordered by offset,
// disjoint, none empty.
std::vector<byte_range> dead_ranges(const archive_layout& layout);
std::uint64_t dead_bytes(const archive_layout& layout);

}  // namespace sevenzfs::archive
