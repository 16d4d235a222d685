#include "archive/crc32.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

using sevenzfs::archive::crc32;
using sevenzfs::test::bytes_of;

TEST(Crc32, CheckValue) { EXPECT_EQ(crc32::of(bytes_of("123456789")), 0xCBF43926u); }

TEST(Crc32, EmptyIsZero) { EXPECT_EQ(crc32::of({}), 0u); }

TEST(Crc32, IncrementalEqualsWhole) {
  const auto data = bytes_of("hello\nworld!!\nhello\n");
  crc32 pieces;
  pieces.update(std::span(data).first(3));
  pieces.update(std::span(data).subspan(3, 7));
  pieces.update(std::span(data).subspan(10));
  EXPECT_EQ(pieces.value(), crc32::of(data));
}
