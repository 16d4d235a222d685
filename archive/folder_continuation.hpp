#pragma once
// Going on from an archived folder instead of compressing a grown file
// again. A file archived alone in an LZMA2 folder that has since grown by
// appends only (a log a service writes while commits come and go) is the
// archived stream followed by new bytes. The archived packed stream without
// its 0x00 end marker, then the new bytes compressed by an encoder primed
// with the input before them, is one valid LZMA2 stream of the whole file:
// the primed encoder does not reset the dictionary, and a decoder that has
// just decoded the archived chunks holds that input (parallel_encoder.hpp
// cuts parts the same way). The primer starts no earlier than the archived
// stream's last dictionary reset: 7-Zip's multithreaded encoder resets the
// dictionary in the middle of a stream, and a decoder holds nothing from
// before a reset. (The primed encoder counts positions from its primer's
// start, the decoder from the last reset: where they differ modulo 2^pb the
// position contexts shift, which costs nothing, as the continuation begins
// with a state reset and every probability starts equal.) A commit then
// compresses the new bytes and a primer's pass over at most one dictionary,
// and copies the packed prefix, instead of compressing the whole file again.
#include "archive_layout.hpp"
#include "archive_snapshot.hpp"
#include "lzma2_chunks.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace sevenzfs::archive {

struct folder_continuation {
  int fd = -1;            // holds the archived folder (its snapshot's descriptor)
  std::string_view path;  // names that file in errors
  byte_range packed;      // the folder's pack stream, its end marker (if any) included
  // What of it the continued stream keeps: all of it but the end marker
  // (a stream may lack one: see lzma2_chunks).
  std::uint64_t kept_packed_bytes = 0;
  std::uint64_t prefix_bytes = 0;  // the archived file's size
  std::uint32_t prefix_crc = 0;
  // The archived coder's dictionary: the continued folder declares one no
  // smaller, since the archived chunks' matches reach that far back.
  std::uint32_t dict_size = 0;
  // Where in the file the archived stream last reset its dictionary.
  std::uint64_t last_dictionary_reset = 0;
};

// How archived `stream` of `snapshot` can be continued, if its folder
// allows it: the folder holds that stream only (a non-empty one with a
// known CRC), has a single LZMA2 coder and a single pack stream whose chunk
// headers add up to the stream's size (chunk headers are read from the
// file; nullopt when they cannot be). The snapshot must outlive the
// continuation.
std::optional<folder_continuation> continuation_of(const archive_snapshot& snapshot, std::uint64_t stream);

}  // namespace sevenzfs::archive
