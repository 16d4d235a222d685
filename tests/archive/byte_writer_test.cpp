#include "archive/byte_writer.hpp"

#include <gtest/gtest.h>

using sevenzfs::archive::byte_writer;
using bytes = std::vector<std::uint8_t>;

namespace {
bytes number(std::uint64_t value) {
  byte_writer w;
  w.number(value);
  return w.data();
}
}  // namespace

TEST(NumberEncoding, MatchesSevenZipForBoundaryValues) {
  EXPECT_EQ(number(0), (bytes{0x00}));
  EXPECT_EQ(number(127), (bytes{0x7f}));
  EXPECT_EQ(number(128), (bytes{0x80, 0x80}));
  EXPECT_EQ(number(202), (bytes{0x80, 0xca}));
  EXPECT_EQ(number(16383), (bytes{0xbf, 0xff}));
  EXPECT_EQ(number(16384), (bytes{0xc0, 0x00, 0x40}));
  EXPECT_EQ(number(std::uint64_t{1} << 32), (bytes{0xf1, 0x00, 0x00, 0x00, 0x00}));
  EXPECT_EQ(number(UINT64_MAX), (bytes{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
}

TEST(NumberEncoding, LengthGrowsEverySevenBits) {
  for (int bits = 1; bits <= 56; ++bits) {
    const std::uint64_t largest = (std::uint64_t{1} << bits) - 1;
    EXPECT_EQ(number(largest).size(), static_cast<std::size_t>(1 + (bits - 1) / 7)) << bits;
  }
}

TEST(FixedWidth, LittleEndian) {
  byte_writer w;
  w.u32_le(0x11223344);
  w.u64_le(0x0102030405060708);
  EXPECT_EQ(w.data(), (bytes{0x44, 0x33, 0x22, 0x11, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01}));
}

TEST(BitVector, MostSignificantBitFirstPaddedToByte) {
  byte_writer w;
  w.bit_vector({true, true, false, false, false});  // 7zz's kEmptyStream for 5 files, 2 empty
  w.bit_vector({false, true});
  w.bit_vector({true, false, false, false, false, false, false, true, true});
  EXPECT_EQ(w.data(), (bytes{0xc0, 0x40, 0x81, 0x80}));
}
