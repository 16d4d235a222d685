#include "archive/lzma_settings.hpp"

#include "archive/archive_error.hpp"

#include <gtest/gtest.h>

using namespace sevenzfs::archive;

TEST(LzmaSettings, DictionaryPerLevelAsSevenZip) {
  const std::uint32_t expected[] = {1u << 18, 1u << 20, 1u << 22, 1u << 23, 1u << 24,
                                    1u << 25, 1u << 25, 1u << 26, 1u << 26};
  for (int level = 1; level <= 9; ++level) EXPECT_EQ(level_dictionary_size(level), expected[level - 1]) << level;
}

TEST(LzmaSettings, DictionaryNeverExceedsTheInput) {
  EXPECT_EQ(lzma2_options_for(5, 10 * 1024).dict_size, 12u * 1024);  // 3 * 2^12 covers 10 KB
  EXPECT_EQ(lzma2_options_for(5, 100).dict_size, 4096u);             // minimum
  EXPECT_EQ(lzma2_options_for(5, 16u << 20).dict_size, 16u << 20);
  EXPECT_EQ(lzma2_options_for(5, 1ull << 33).dict_size, 16u << 20);  // capped by the level
  EXPECT_EQ(lzma2_options_for(9, (48u << 20) - 1).dict_size, 48u << 20);
}

TEST(LzmaSettings, ModeMatchFinderAndFastBytes) {
  const auto fast = lzma2_options_for(1, 1 << 20);
  EXPECT_EQ(fast.mode, LZMA_MODE_FAST);
  EXPECT_EQ(fast.mf, LZMA_MF_HC4);
  EXPECT_EQ(fast.nice_len, 32u);
  const auto normal = lzma2_options_for(5, 1 << 20);
  EXPECT_EQ(normal.mode, LZMA_MODE_NORMAL);
  EXPECT_EQ(normal.mf, LZMA_MF_BT4);
  EXPECT_EQ(normal.nice_len, 32u);
  EXPECT_EQ(lzma2_options_for(7, 1 << 20).nice_len, 64u);
}

TEST(LzmaSettings, PropertyByteIsTheDictionaryCode) {
  lzma_options_lzma options = lzma2_options_for(9, 1ull << 30);
  options.dict_size = 8u << 20;
  EXPECT_EQ(lzma2_property_byte(options), 0x16);
  options.dict_size = 1u << 20;
  EXPECT_EQ(lzma2_property_byte(options), 0x10);
  options.dict_size = 4096;
  EXPECT_EQ(lzma2_property_byte(options), 0x00);
  options.dict_size = 12 * 1024;  // 3 * 2^12
  EXPECT_EQ(lzma2_property_byte(options), 0x03);
}

TEST(LzmaSettings, LevelOutOfRangeIsAnOptionError) {
  EXPECT_THROW(lzma2_options_for(0, 1), archive_error);
  EXPECT_THROW(level_dictionary_size(10), archive_error);
}

TEST(LzmaSettings, HeadersAreCompressedWithSevenZipsDictionaryAndFastBytesInLittleMemory) {
  const auto small = lzma2_header_options(10 * 1024);
  EXPECT_EQ(small.dict_size, 12u * 1024);  // what the input needs
  const auto large = lzma2_header_options(std::uint64_t{256} << 20);
  EXPECT_EQ(large.dict_size, 1u << 20);  // 7-Zip's header dictionary, whatever the header's size
  EXPECT_EQ(large.mf, LZMA_MF_BT4);  // 7-Zip hashes two bytes; four are faster in liblzma
  EXPECT_EQ(large.nice_len, 273u);
  EXPECT_EQ(large.mode, LZMA_MODE_NORMAL);
  // A commit of a million files compresses a header of a few hundred MB
  // next to the workers' encoders: it must not need a level's 185 MiB.
  lzma_options_lzma options = large;
  const lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &options}, {LZMA_VLI_UNKNOWN, nullptr}};
  const std::uint64_t memory = lzma_raw_encoder_memusage(filters);
  EXPECT_GT(memory, 0u);
  EXPECT_LT(memory, std::uint64_t{16} << 20);
  lzma_options_lzma level_five = lzma2_options_for(5, std::uint64_t{256} << 20);
  const lzma_filter level_filters[] = {{LZMA_FILTER_LZMA2, &level_five}, {LZMA_VLI_UNKNOWN, nullptr}};
  EXPECT_GT(lzma_raw_encoder_memusage(level_filters), std::uint64_t{150} << 20);
}

TEST(LzmaSettings, AQuickHeaderDiffersInFastBytesAlone) {
  const auto best = lzma2_header_options(std::uint64_t{4} << 20);
  const auto quick = lzma2_header_options(std::uint64_t{4} << 20, header_effort::quick);
  EXPECT_EQ(quick.nice_len, 32u);
  EXPECT_EQ(quick.dict_size, best.dict_size);  // the same property byte and decoder
  EXPECT_EQ(quick.mf, best.mf);
  EXPECT_EQ(quick.mode, best.mode);
}
