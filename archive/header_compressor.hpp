#pragma once
// Compresses a serialized header into one LZMA2 stream. A header of many
// files is megabytes (about 140 bytes a file in a folder of its own) and
// compresses slowly (a few MB/s with 7-Zip's header settings), and every
// commit writes one (an unmount waits for it): so a long header is cut into
// parts compressed on threads of their own, each part after the first primed
// with the dictionary's worth of header before it, so the stream compresses
// almost as one encoder's would (see lzma2_encoder.hpp; 0.6 % larger on a
// header of 100,000 files).
#include "lzma_settings.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace sevenzfs::archive {

// One LZMA2 stream, end marker included, as the parts' packed bytes one
// after another: kept apart, as joining them would hold the packed header
// twice (18 MB for a million small files) while the plain one is held.
struct compressed_header {
  std::vector<std::vector<std::uint8_t>> parts;
  std::uint8_t property = 0;  // the stream's LZMA2 property byte (the dictionary size)

  std::uint64_t size() const noexcept;
};

// How many parts `plain_bytes` of header are cut into with `threads` threads:
// none shorter than kMinHeaderPartDictionaries dictionaries, so priming stays
// a small share of each part's work.
inline constexpr std::uint64_t kMinHeaderPartDictionaries = 2;
unsigned header_parts_for(std::uint64_t plain_bytes, unsigned threads);

compressed_header compress_header(std::span<const std::uint8_t> plain, unsigned threads,
                                  header_effort effort = header_effort::best);

}  // namespace sevenzfs::archive
