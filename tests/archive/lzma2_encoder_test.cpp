#include "archive/lzma2_encoder.hpp"

#include "archive/lzma_settings.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

using namespace sevenzfs::archive;

namespace {

std::vector<std::uint8_t> sample(std::size_t size) {
  std::mt19937 rng(7);
  const char* words[] = {"alpha ", "beta ", "gamma ", "delta\n", "{\"id\": ", "42, "};
  std::vector<std::uint8_t> data;
  while (data.size() < size) {
    const char* w = words[rng() % 6];
    data.insert(data.end(), w, w + std::strlen(w));
  }
  data.resize(size);
  return data;
}

std::vector<std::uint8_t> decode(const std::vector<std::uint8_t>& packed, const lzma_options_lzma& options,
                                 std::size_t expected_size, lzma_ret* final_ret) {
  lzma_stream stream = LZMA_STREAM_INIT;
  lzma_filter filters[2] = {{LZMA_FILTER_LZMA2, const_cast<lzma_options_lzma*>(&options)}, {LZMA_VLI_UNKNOWN, nullptr}};
  EXPECT_EQ(lzma_raw_decoder(&stream, filters), LZMA_OK);
  std::vector<std::uint8_t> out(expected_size + 1024);
  stream.next_in = packed.data();
  stream.avail_in = packed.size();
  stream.next_out = out.data();
  stream.avail_out = out.size();
  *final_ret = lzma_code(&stream, LZMA_FINISH);
  out.resize(out.size() - stream.avail_out);
  lzma_end(&stream);
  return out;
}

std::vector<std::uint8_t> encode(lzma2_encoder& encoder, std::span<const std::uint8_t> input,
                                 const lzma_options_lzma& options, bool keep_end_marker,
                                 std::span<const std::uint8_t> preset_dictionary = {}) {
  std::vector<std::uint8_t> packed;
  const span_sink collect = [&](std::span<const std::uint8_t> b) { packed.insert(packed.end(), b.begin(), b.end()); };
  encoder.start(options, preset_dictionary);
  // Feed in uneven pieces, as file contents arrive.
  for (std::size_t at = 0; at < input.size();) {
    const std::size_t n = std::min<std::size_t>(input.size() - at, 1 + (at * 7919) % 70000);
    encoder.write(input.subspan(at, n), collect);
    at += n;
  }
  encoder.finish(collect, keep_end_marker);
  return packed;
}

}  // namespace

TEST(Lzma2Encoder, RoundTripsAndEndsWithEndMarker) {
  const auto input = sample(3 << 20);
  const auto options = lzma2_options_for(5, input.size());
  lzma2_encoder encoder;
  const auto packed = encode(encoder, input, options, true);
  ASSERT_FALSE(packed.empty());
  EXPECT_EQ(packed.back(), 0x00);
  EXPECT_LT(packed.size(), input.size() / 4);
  lzma_ret ret{};
  EXPECT_EQ(decode(packed, options, input.size(), &ret), input);
  EXPECT_EQ(ret, LZMA_STREAM_END);
}

TEST(Lzma2Encoder, IndependentPartsConcatenateIntoOneStream) {
  const auto input = sample(5 << 20);
  const auto options = lzma2_options_for(3, input.size());
  lzma2_encoder encoder;
  std::vector<std::uint8_t> joined;
  const std::size_t part = 1 << 20;
  for (std::size_t at = 0; at < input.size(); at += part) {
    const bool last = at + part >= input.size();
    const auto packed = encode(encoder, std::span(input).subspan(at, std::min(part, input.size() - at)), options, last);
    // Every part starts with a dictionary reset: an uncompressed chunk (0x01) or LZMA with reset (0xE0 bits).
    ASSERT_TRUE(packed[0] == 0x01 || (packed[0] & 0xE0) == 0xE0) << int(packed[0]);
    joined.insert(joined.end(), packed.begin(), packed.end());
  }
  lzma_ret ret{};
  EXPECT_EQ(decode(joined, options, input.size(), &ret), input);
  EXPECT_EQ(ret, LZMA_STREAM_END);
}

TEST(Lzma2Encoder, KeptInnerEndMarkerWouldStopTheDecoder) {
  // The reason non-final parts drop their marker: with it, decoding ends early.
  const auto input = sample(200000);
  const auto options = lzma2_options_for(1, input.size());
  lzma2_encoder encoder;
  auto joined = encode(encoder, std::span(input).first(100000), options, true);
  const auto second = encode(encoder, std::span(input).subspan(100000), options, true);
  joined.insert(joined.end(), second.begin(), second.end());
  lzma_ret ret{};
  EXPECT_NE(decode(joined, options, input.size(), &ret).size(), input.size());
}

TEST(Lzma2Encoder, PrimedPartContinuesTheDictionary) {
  const auto input = sample(3 << 20);
  const auto options = lzma2_options_for(5, input.size());  // 3 MiB dictionary
  const auto first = std::span(input).first(1 << 20);
  const auto rest = std::span(input).subspan(1 << 20);
  lzma2_encoder encoder;
  auto joined = encode(encoder, first, options, false);
  // A preset longer than the dictionary is fine: only its tail is used.
  std::vector<std::uint8_t> long_preset(8 << 20, 'x');
  long_preset.insert(long_preset.end(), first.begin(), first.end());
  const auto primed = encode(encoder, rest, options, true, long_preset);
  const auto unprimed = encode(encoder, rest, options, true);
  // Properties and state reset, but no dictionary reset (0xE0 bits would be 0xE0).
  EXPECT_EQ(primed[0] & 0xE0, 0xC0) << int(primed[0]);
  EXPECT_LT(primed.size(), unprimed.size());
  joined.insert(joined.end(), primed.begin(), primed.end());
  lzma_ret ret{};
  EXPECT_EQ(decode(joined, options, input.size(), &ret), input);
  EXPECT_EQ(ret, LZMA_STREAM_END);
}

TEST(Lzma2Encoder, FlushedPartsContinueOneStreamAndMixWithPrimedParts) {
  const auto input = sample(4 << 20);
  const auto options = lzma2_options_for(5, input.size());
  const std::size_t part = 1 << 20;
  std::vector<std::uint8_t> joined;
  const span_sink collect = [&](std::span<const std::uint8_t> b) { joined.insert(joined.end(), b.begin(), b.end()); };
  // Parts 0 and 1 on one encoder, flushed in between; part 2 on another,
  // primed; part 3 continues that one.
  lzma2_encoder continuing;
  continuing.start(options);
  continuing.write(std::span(input).first(part), collect);
  continuing.flush(collect);
  const std::size_t after_first = joined.size();
  continuing.write(std::span(input).subspan(part, part), collect);
  continuing.flush(collect);
  // A continued part neither resets the dictionary nor the state: an LZMA chunk without reset (0x80 bits).
  ASSERT_GT(joined.size(), after_first);
  EXPECT_EQ(joined[after_first] & 0xE0, 0x80) << int(joined[after_first]);
  lzma2_encoder primed;
  primed.start(options, std::span(input).first(2 * part));
  primed.write(std::span(input).subspan(2 * part, part), collect);
  primed.flush(collect);
  primed.write(std::span(input).subspan(3 * part), collect);
  primed.finish(collect, true);
  lzma_ret ret{};
  EXPECT_EQ(decode(joined, options, input.size(), &ret), input);
  EXPECT_EQ(ret, LZMA_STREAM_END);
  // As small as one stream, give or take the chunk ends.
  lzma2_encoder whole;
  const auto one = encode(whole, input, options, true);
  EXPECT_LE(joined.size(), one.size() + one.size() / 100 + 64);
}
