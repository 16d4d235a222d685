#include "byte_writer.hpp"

namespace sevenzfs::archive {

void byte_writer::number(std::uint64_t value) {
  std::uint8_t first = 0;
  std::uint8_t mask = 0x80;
  int extra = 0;
  for (; extra < 8; ++extra) {
    if (value < (std::uint64_t{1} << (7 * (extra + 1)))) {
      first |= static_cast<std::uint8_t>(value >> (8 * extra));
      break;
    }
    first |= mask;
    mask >>= 1;
  }
  byte(first);
  for (int i = 0; i < extra; ++i) byte(static_cast<std::uint8_t>(value >> (8 * i)));
}

void byte_writer::u32_le(std::uint32_t value) {
  for (int i = 0; i < 4; ++i) byte(static_cast<std::uint8_t>(value >> (8 * i)));
}

void byte_writer::u64_le(std::uint64_t value) {
  for (int i = 0; i < 8; ++i) byte(static_cast<std::uint8_t>(value >> (8 * i)));
}

void byte_writer::bit_vector(const std::vector<bool>& bits) {
  std::uint8_t current = 0;
  int filled = 0;
  for (bool bit : bits) {
    current = static_cast<std::uint8_t>(current | (bit ? 0x80 >> filled : 0));
    if (++filled == 8) {
      byte(current);
      current = 0;
      filled = 0;
    }
  }
  if (filled > 0) byte(current);
}

}  // namespace sevenzfs::archive
