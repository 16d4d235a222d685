#pragma once
// Going on from an archived folder instead of compressing a grown file
// again. A file archived alone in an LZMA2 folder that has since grown by
// appends only (a log a service writes while commits come and go) is the
// archived stream followed by new bytes. The archived packed stream without
// its 0x00 end marker, then the new bytes compressed by an encoder primed
// with the dictionary of input before them, is one valid LZMA2 stream of the
// whole file: the primed encoder does not reset the dictionary, and a
// decoder that has just decoded the archived chunks holds exactly that
// window (parallel_encoder.hpp cuts parts the same way). A commit then
// compresses the new bytes and a primer's pass over one dictionary, and
// copies the packed prefix, instead of compressing the whole file again.
#include "archive_layout.hpp"
#include "archive_snapshot.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace sevenzfs::archive {

struct folder_continuation {
  int fd = -1;                     // holds the archived folder (its snapshot's descriptor)
  std::string_view path;           // names that file in errors
  byte_range packed;               // the folder's pack stream, end marker included
  std::uint64_t prefix_bytes = 0;  // the archived file's size
  std::uint32_t prefix_crc = 0;
  std::uint32_t dict_size = 0;  // the archived coder's dictionary: the continued one is no smaller
};

// How archived `stream` of `snapshot` can be continued, if its folder
// allows it: the folder holds that stream only (a non-empty one with a
// known CRC), has a single LZMA2 coder and a single pack stream, and that
// stream ends with the end marker (one byte of the file is read; nullopt
// when it cannot be). The snapshot must outlive the continuation.
std::optional<folder_continuation> continuation_of(const archive_snapshot& snapshot, std::uint64_t stream);

// The dictionary size an LZMA2 property byte names (nullopt: not a valid one).
std::optional<std::uint32_t> lzma2_dictionary_of(std::uint8_t property) noexcept;

}  // namespace sevenzfs::archive
