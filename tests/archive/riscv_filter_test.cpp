// The RISC-V decoder's conversions on instructions encoded by hand from the
// filter's description; 7zz-made archives of real RISC-V code are read back
// in read_interop_test.
#include "archive/riscv_filter.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace sevenzfs::archive;

TEST(RiscvFilter, RestoresJalTargets) {
  // JAL ra, +0x800 at 0x1000 is EF 00 10 00; the filter stores the absolute
  // target 0x1800 as bits [20:1] big-endian: EF 00 0C 00.
  std::vector<std::uint8_t> code{0xEF, 0x00, 0x0C, 0x00, 0x13, 0x00, 0x00, 0x00, 0x13, 0x00};
  EXPECT_EQ(riscv_decode(code, 0x1000), 4u);  // the last 6 bytes wait for more
  EXPECT_EQ(code, (std::vector<std::uint8_t>{0xEF, 0x00, 0x10, 0x00, 0x13, 0x00, 0x00, 0x00, 0x13, 0x00}));
}

TEST(RiscvFilter, LeavesOtherJalsAndShortInputAlone) {
  // JAL zero (a jump, rd x0 has byte 0 = 0x6F) and JAL with rd x2 are not converted.
  std::vector<std::uint8_t> code{0x6F, 0x00, 0x0C, 0x00, 0xEF, 0x01, 0x0C, 0x00, 0x13, 0x00, 0x00, 0x00};
  const auto before = code;
  riscv_decode(code, 0);
  EXPECT_EQ(code, before);
  std::vector<std::uint8_t> tiny{0xEF, 0x00, 0x0C, 0x00, 0x13};
  EXPECT_EQ(riscv_decode(tiny, 0), 0u);
}

TEST(RiscvFilter, RestoresAuipcPairsFromTheMarkerForm) {
  // auipc a0, 0 ; addi a0, a0, 16 at 0x2000 (17 05 00 00 13 05 05 01) points
  // at 0x2010. The filter stores AUIPC with rd x2 carrying the second
  // instruction's low 20 bits, then 0x2010 big-endian.
  const std::uint32_t second = 0x01050513;  // addi a0, a0, 16
  const std::uint32_t marker = 0x17 | (2u << 7) | (second << 12);
  std::vector<std::uint8_t> code{0, 0, 0, 0, 0x00, 0x00, 0x20, 0x10};
  for (std::size_t i = 0; i < 4; ++i) code[i] = static_cast<std::uint8_t>(marker >> (8 * i));
  EXPECT_EQ(riscv_decode(code, 0x2000), 8u);
  EXPECT_EQ(code, (std::vector<std::uint8_t>{0x17, 0x05, 0x00, 0x00, 0x13, 0x05, 0x05, 0x01}));
}
