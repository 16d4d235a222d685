#pragma once
// A small BCJ2 encoder for tests, written from the format's description
// (7-Zip C/Bcj2.h): it converts every other CALL/JMP/Jcc whose operand lies
// inside the data, so both flag values appear, and range-codes the flags
// with LZMA's binary coder.
#include <cstdint>
#include <span>
#include <vector>

namespace sevenzfs::test {

struct bcj2_streams {
  std::vector<std::uint8_t> main;
  std::vector<std::uint8_t> call;
  std::vector<std::uint8_t> jump;
  std::vector<std::uint8_t> rc;
};

bcj2_streams bcj2_encode(std::span<const std::uint8_t> data);

}  // namespace sevenzfs::test
