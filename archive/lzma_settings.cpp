#include "lzma_settings.hpp"

#include "archive_error.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace sevenzfs::archive {

namespace {

void check_level(int level) {
  if (level < 1 || level > kMaxLevel) {
    throw archive_error(error_kind::invalid_option, "",
                        fmt::format("compression level {} is not in 1-{}", level, kMaxLevel));
  }
}

std::uint32_t smallest_dictionary_covering(std::uint64_t input_size) {
  constexpr std::uint32_t kMinimum = 4096;
  for (int bits = 12; bits < 32; ++bits) {
    const std::uint64_t power = std::uint64_t{1} << bits;
    if (input_size <= power) return static_cast<std::uint32_t>(std::max<std::uint64_t>(power, kMinimum));
    if (input_size <= power + power / 2) return static_cast<std::uint32_t>(power + power / 2);
  }
  return UINT32_MAX;
}

}  // namespace

std::uint32_t level_dictionary_size(int level) {
  check_level(level);
  if (level <= 3) return std::uint32_t{1} << (level * 2 + 16);
  if (level <= 6) return std::uint32_t{1} << (level + 19);
  if (level == 7) return std::uint32_t{1} << 25;
  return std::uint32_t{1} << 26;
}

lzma_options_lzma lzma2_options_for(int level, std::uint64_t input_size) {
  check_level(level);
  lzma_options_lzma options{};
  lzma_lzma_preset(&options, 6);  // sane defaults for every field, then 7-Zip's choices
  options.dict_size = std::min(level_dictionary_size(level), smallest_dictionary_covering(input_size));
  options.lc = 3;
  options.lp = 0;
  options.pb = 2;
  const bool fast = level < 5;
  options.mode = fast ? LZMA_MODE_FAST : LZMA_MODE_NORMAL;
  options.mf = fast ? LZMA_MF_HC4 : LZMA_MF_BT4;
  options.nice_len = level < 7 ? 32 : 64;
  // 7-Zip's match-finder cycles: (16 + fb/2), halved for hash chains.
  options.depth = (16 + options.nice_len / 2) >> (fast ? 1 : 0);
  return options;
}

lzma_options_lzma lzma2_header_options(std::uint64_t input_size, header_effort effort) {
  lzma_options_lzma options{};
  lzma_lzma_preset(&options, 6);
  options.dict_size = std::min(std::uint32_t{1} << 20, smallest_dictionary_covering(input_size));
  options.lc = 3;
  options.lp = 0;
  options.pb = 2;
  options.mode = LZMA_MODE_NORMAL;
  options.mf = LZMA_MF_BT4;
  options.nice_len = effort == header_effort::quick ? 32 : 273;
  options.depth = 0;  // liblzma's default for the match finder and fast bytes
  return options;
}

std::uint8_t lzma2_property_byte(const lzma_options_lzma& options) {
  lzma_filter filter{LZMA_FILTER_LZMA2, const_cast<lzma_options_lzma*>(&options)};
  std::uint32_t size = 0;
  if (lzma_properties_size(&size, &filter) != LZMA_OK || size != 1) {
    throw archive_error(error_kind::compression, "", "liblzma cannot size LZMA2 properties");
  }
  std::uint8_t property = 0;
  if (lzma_properties_encode(&filter, &property) != LZMA_OK) {
    throw archive_error(error_kind::compression, "", "liblzma cannot encode LZMA2 properties");
  }
  return property;
}

}  // namespace sevenzfs::archive
