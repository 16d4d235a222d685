#include "archive/utf16.hpp"

#include <gtest/gtest.h>

using sevenzfs::archive::utf16le_to_utf8;
using sevenzfs::archive::utf8_to_utf16le;
using bytes = std::vector<std::uint8_t>;

TEST(Utf16, AsciiAndBmp) {
  EXPECT_EQ(utf8_to_utf16le("dir"), (bytes{'d', 0, 'i', 0, 'r', 0}));
  EXPECT_EQ(utf8_to_utf16le("\xc3\xa9"), (bytes{0xe9, 0x00}));      // é
  EXPECT_EQ(utf8_to_utf16le("\xe2\x82\xac"), (bytes{0xac, 0x20}));  // €
  EXPECT_EQ(utf8_to_utf16le(""), bytes{});
}

TEST(Utf16, OutsideBmpBecomesSurrogatePair) {
  // U+1F600 as 7zz writes it: 3d d8 00 de
  EXPECT_EQ(utf8_to_utf16le("\xf0\x9f\x98\x80"), (bytes{0x3d, 0xd8, 0x00, 0xde}));
  // U+10FFFF, the last code point
  EXPECT_EQ(utf8_to_utf16le("\xf4\x8f\xbf\xbf"), (bytes{0xff, 0xdb, 0xff, 0xdf}));
}

TEST(Utf16, RejectsInvalidUtf8) {
  EXPECT_FALSE(utf8_to_utf16le("\xff"));
  EXPECT_FALSE(utf8_to_utf16le("a\x80"));             // stray continuation
  EXPECT_FALSE(utf8_to_utf16le("\xc0\x80"));          // overlong NUL
  EXPECT_FALSE(utf8_to_utf16le("\xe0\x80\xaf"));      // overlong '/'
  EXPECT_FALSE(utf8_to_utf16le("\xed\xa0\x80"));      // UTF-8-encoded surrogate
  EXPECT_FALSE(utf8_to_utf16le("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(utf8_to_utf16le("\xe2\x82"));          // truncated
  EXPECT_FALSE(utf8_to_utf16le("latin1 caf\xe9"));    // Latin-1 byte
}

TEST(Utf16, UnpairedSurrogatesAreRefusedOrReplacedWhenAsked) {
  // "a", a lone high surrogate, "b", a lone low surrogate; then a proper pair.
  const std::vector<std::uint8_t> broken{'a', 0, 0x00, 0xD8, 'b', 0, 0x00, 0xDC};
  EXPECT_FALSE(utf16le_to_utf8(broken));
  bool replaced = false;
  EXPECT_EQ(utf16le_to_utf8(broken, &replaced), std::optional<std::string>("a\xEF\xBF\xBD"
                                                                           "b\xEF\xBF\xBD"));
  EXPECT_TRUE(replaced);
  const std::vector<std::uint8_t> pair{0x3D, 0xD8, 0x00, 0xDE};  // U+1F600
  replaced = false;
  EXPECT_EQ(utf16le_to_utf8(pair, &replaced), std::optional<std::string>("\xF0\x9F\x98\x80"));
  EXPECT_FALSE(replaced);
}
