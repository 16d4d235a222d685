#include "crc32.hpp"

#include <lzma.h>

namespace sevenzfs::archive {

void crc32::update(std::span<const std::uint8_t> data) noexcept {
  // lzma_crc32 takes a size_t length, so no chunking is needed.
  value_ = lzma_crc32(data.data(), data.size(), value_);
}

namespace {

// Multiplication by a 32x32 matrix over GF(2), and squaring such a matrix.
std::uint32_t times(const std::uint32_t* matrix, std::uint32_t vector) noexcept {
  std::uint32_t sum = 0;
  for (; vector != 0; vector >>= 1, ++matrix) {
    if ((vector & 1) != 0) sum ^= *matrix;
  }
  return sum;
}

void square(std::uint32_t* result, const std::uint32_t* matrix) noexcept {
  for (int n = 0; n < 32; ++n) result[n] = times(matrix, matrix[n]);
}

}  // namespace

// Appending B's length of zero bits to A's CRC is a linear map, applied by
// repeated squaring of the one-zero-bit operator; then B's CRC is added.
std::uint32_t crc32::combine(std::uint32_t first, std::uint32_t second, std::uint64_t second_length) noexcept {
  if (second_length == 0) return first;
  std::uint32_t even[32];
  std::uint32_t odd[32];
  odd[0] = 0xedb88320u;  // the CRC-32 polynomial, reflected
  for (std::uint32_t n = 1, row = 1; n < 32; ++n, row <<= 1) odd[n] = row;
  square(even, odd);  // two zero bits
  square(odd, even);  // four zero bits
  do {
    square(even, odd);
    if ((second_length & 1) != 0) first = times(even, first);
    second_length >>= 1;
    if (second_length == 0) break;
    square(odd, even);
    if ((second_length & 1) != 0) first = times(odd, first);
    second_length >>= 1;
  } while (second_length != 0);
  return first ^ second;
}

}  // namespace sevenzfs::archive
