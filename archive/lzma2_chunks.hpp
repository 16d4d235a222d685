#pragma once
// What the chunk headers of an LZMA2 stream say, read without decoding it:
// its size and where it resets the dictionary. A decoder holds nothing from
// before a reset, so a stream can be continued from its last reset
// (folder_continuation.hpp) and decoded starting at any reset
// (folder_decoder_options::entry).
#include "archive_database.hpp"
#include "archive_layout.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace sevenzfs::archive {

// A chunk that resets the dictionary: where it begins in the stream's
// output and in its packed bytes.
struct lzma2_reset {
  std::uint64_t unpacked = 0;
  std::uint64_t packed = 0;
  bool operator==(const lzma2_reset&) const = default;
};

struct lzma2_chunks {
  std::uint64_t unpacked_bytes = 0;
  std::vector<lzma2_reset> resets;  // in stream order; the first chunk's always
  // Whether the range's last byte is the 0x00 end marker. Without it the
  // stream ends with its last chunk, which every reader accepts (a header
  // that stands in during an in-place continuation describes one).
  bool ends_with_marker = true;
  std::uint64_t last_dictionary_reset() const noexcept { return resets.empty() ? 0 : resets.back().unpacked; }
};

// The chunks of the LZMA2 stream in `packed` of file `fd`, when it is a
// sequence of well-formed chunk headers, the first resetting the dictionary,
// ending with the end marker in the range's last byte or with a chunk that
// ends where the range does; nullopt otherwise (also when the file cannot
// be read). One pread per chunk.
std::optional<lzma2_chunks> walk_lzma2_chunks(int fd, byte_range packed);

// Whether `folder` is a single LZMA2 coder (one property byte) reading a
// single pack stream: its pack stream is then one LZMA2 stream of its
// content, whose chunks walk_lzma2_chunks reads.
bool is_one_lzma2_stream(const folder_info& folder) noexcept;

// The dictionary size an LZMA2 property byte names (nullopt: not a valid one).
std::optional<std::uint32_t> lzma2_dictionary_of(std::uint8_t property) noexcept;

}  // namespace sevenzfs::archive
