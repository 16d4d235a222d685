#pragma once
// Reads the chunk structure of a raw LZMA2 stream (the control bytes of
// liblzma's src/liblzma/lzma/lzma2_decoder.c) and decodes whole streams, so
// tests can see how parts were joined: where the dictionary was reset, how
// many parts there were, and whether the stream ends exactly once.
#include <lzma.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sevenzfs::test {

struct lzma2_chunks {
  std::size_t chunks = 0;             // not counting the end marker
  std::size_t dictionary_resets = 0;  // 0x01, and LZMA chunks with 0xE0 set
  // LZMA chunks with properties (0xC0 set). liblzma writes them in the first
  // LZMA chunk after it was started, so every part of a joined stream that
  // has compressed data adds one.
  std::size_t property_chunks = 0;
  std::size_t uncompressed_chunks = 0;  // 0x01 and 0x02
  std::size_t end_markers = 0;
  bool ends_at_end_marker = false;  // the last byte is the only end marker
  std::string error;                // empty when the structure parsed
};

lzma2_chunks read_lzma2_chunks(std::span<const std::uint8_t> stream);

// Decodes a whole raw LZMA2 stream with one liblzma decoder; `status` gets
// the final lzma_code result (LZMA_STREAM_END when the stream ended cleanly).
std::vector<std::uint8_t> decode_lzma2(std::span<const std::uint8_t> stream, std::uint32_t dict_size,
                                       std::size_t expected_size, lzma_ret* status);

}  // namespace sevenzfs::test
