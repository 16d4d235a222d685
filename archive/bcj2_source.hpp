#pragma once
// The BCJ2 decoder (7-Zip's x86 branch converter with four streams, which
// 7zz applies to executables at -mx=7..9). Written from the documented
// algorithm (7-Zip C/Bcj2.h): the main stream carries the code with the
// targets of converted CALL (E8), JMP (E9) and Jcc (0F 8x) instructions
// removed; the call and jump streams carry those targets as absolute
// big-endian addresses; an adaptive binary range coder (11-bit
// probabilities, shift 5, one context per byte before an E8, one for E9,
// one for Jcc) says for each such opcode whether it was converted.
#include "byte_source.hpp"

#include <array>
#include <cstdint>
#include <string>

namespace sevenzfs::archive {

// Inputs in 7z coder order: main, call, jump, range-coded flags.
source_ptr make_bcj2_source(std::array<source_ptr, 4> inputs, std::uint64_t output_size, const std::string& path);

}  // namespace sevenzfs::archive
