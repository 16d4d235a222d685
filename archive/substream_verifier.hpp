#pragma once
// Checks the CRCs of a folder's substreams as its content is decoded in
// order, and records each verdict in the snapshot as soon as a substream is
// complete (and the folder's own CRC, when the header has one, at the
// folder's end: a mismatch there condemns every substream in it). Content
// decoded from a point after the folder's start checks only the substreams
// that begin at or after it.
#include "archive_snapshot.hpp"
#include "crc32.hpp"

#include <cstdint>
#include <span>

namespace sevenzfs::archive {

class substream_verifier {
 public:
  // `from`: where in the folder's content the first consume() begins.
  substream_verifier(const archive_snapshot& snapshot, std::size_t folder, std::uint64_t from = 0);

  // `data` continues the folder's content where the previous call ended.
  // `snapshot` is the one given at construction.
  void consume(const archive_snapshot& snapshot, std::span<const std::uint8_t> data);

 private:
  void finish_substreams(const archive_snapshot& snapshot);

  std::size_t folder_;
  std::uint64_t next_substream_;  // the substream the next byte belongs to
  std::uint64_t end_substream_;
  std::uint64_t position_ = 0;  // in the folder's content
  crc32 substream_crc_;
  crc32 folder_crc_;
  bool check_folder_;
};

}  // namespace sevenzfs::archive
