#pragma once
// Compression levels with 7-Zip's -mx meaning for LZMA2 (C/LzmaEnc.c,
// LzmaEncProps_Normalize): 0 = store, 1-4 fast mode with a hash-chain match
// finder, 5-9 normal mode with a binary-tree match finder; dictionary
// 256 KiB, 1, 4, 8, 16, 32, 32, 64, 64 MiB for levels 1-9; fast bytes 32
// below level 7, 64 from it. The dictionary never exceeds what the input needs.
#include <lzma.h>

#include <cstdint>

namespace sevenzfs::archive {

inline constexpr int kMaxLevel = 9;

// Dictionary size of `level` (1-9) before clamping to the input.
std::uint32_t level_dictionary_size(int level);

// LZMA2 encoder options for `level` (1-9) and an input of `input_size` bytes:
// the dictionary is the smallest LZMA2-representable size (2^n or 3*2^(n-1),
// at least 4 KiB) that covers the input, capped at the level's dictionary.
lzma_options_lzma lzma2_options_for(int level, std::uint64_t input_size);

// LZMA2 encoder options for an archive's header of `input_size` bytes, as
// 7-Zip compresses headers whatever the level: a 1 MiB dictionary (at most
// what the input needs) and 273 fast bytes, but a binary-tree match finder on
// four-byte hashes where 7-Zip's hashes two bytes: in liblzma that is 13-27 %
// faster on headers of 24,000-100,000 files, within 0.3 % of the size either
// way. Records of one kind repeat within a short distance, and the encoder
// needs about 11 MiB instead of a level's (185 MiB at level 5, next to the
// compression workers' own).
// `quick`: for a header the next commit replaces (an fsync's, a periodic
// commit's): 32 fast bytes instead of 273, which compressed the header of
// 23,000 files in 40 % of the time (an fsync there: 0.19 s instead of 0.46)
// and mostly 1-4 % larger (not always: one of 3,000 short names came out
// 0.8 % smaller).
enum class header_effort { best, quick };
lzma_options_lzma lzma2_header_options(std::uint64_t input_size, header_effort effort = header_effort::best);

// The single LZMA2 coder property byte 7z stores (the dictionary size code).
std::uint8_t lzma2_property_byte(const lzma_options_lzma& options);

}  // namespace sevenzfs::archive
