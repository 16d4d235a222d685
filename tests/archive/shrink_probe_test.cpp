#include "archive/shrink_probe.hpp"

#include "archive/lzma2_chunks.hpp"
#include "archive/lzma_settings.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <numbers>
#include <random>

using namespace sevenzfs::archive;
using sevenzfs::test::decode_lzma2;
using sevenzfs::test::noise;
using sevenzfs::test::read_lzma2_chunks;

namespace {

constexpr std::uint64_t kProbe = shrink_probe::kProbeBytes;

std::vector<std::uint8_t> text(std::size_t size) {
  std::string lines;
  for (std::uint64_t i = 0; lines.size() < size; ++i) lines += "record " + std::to_string(i * 7919 % 100003) + "\n";
  return {lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(size)};
}

std::vector<std::uint8_t> joined(std::vector<std::uint8_t> a, const std::vector<std::uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

struct probed {
  std::vector<std::uint8_t> packed;
  bool gave_up = false;
};

// Feeds `input` in uneven pieces, as file contents arrive; ends the stream
// as pending_part ends a folder's last part.
probed run_probe(std::span<const std::uint8_t> input, bool one_file, shrink_probe::after_giving_up after) {
  lzma2_encoder encoder;
  encoder.start(lzma2_options_for(5, input.size()));
  probed result;
  const span_sink collect = [&](auto bytes) { result.packed.insert(result.packed.end(), bytes.begin(), bytes.end()); };
  shrink_probe probe(one_file, input.size(), after);
  for (std::size_t at = 0; at < input.size();) {
    const std::size_t n = std::min<std::size_t>(input.size() - at, 1 + (at * 7919) % 100000);
    probe.write(encoder, input.subspan(at, n), collect);
    at += n;
  }
  result.gave_up = probe.gave_up();
  if (!result.gave_up) {
    encoder.finish(collect, true);
  } else if (after == shrink_probe::after_giving_up::raw_chunks) {
    result.packed.push_back(0x00);
  }
  return result;
}

std::vector<std::uint8_t> decoded(const probed& result, std::size_t size) {
  lzma_ret status{};
  auto out = decode_lzma2(result.packed, lzma2_options_for(5, size).dict_size, size, &status);
  EXPECT_EQ(status, LZMA_STREAM_END);
  return out;
}

}  // namespace

TEST(ShrinkProbe, GivesUpOnNoiseAfterTheProbe) {
  const auto input = noise(3 << 20, 1);
  const auto result = run_probe(input, true, shrink_probe::after_giving_up::drop_input);
  EXPECT_TRUE(result.gave_up);
  // The encoder saw the probe only: its output is the probe's size, not the input's.
  EXPECT_GE(result.packed.size(), kProbe);
  EXPECT_LE(result.packed.size(), kProbe + kProbe / 64);
}

TEST(ShrinkProbe, CompressibleInputIsCompressedWholeThroughTheFlush) {
  const auto input = text(3 << 20);
  const auto result = run_probe(input, true, shrink_probe::after_giving_up::drop_input);
  EXPECT_FALSE(result.gave_up);
  EXPECT_LT(result.packed.size(), input.size() / 4);
  EXPECT_EQ(decoded(result, input.size()), input);
}

TEST(ShrinkProbe, NeverGivesUpOnSeveralFiles) {
  const auto many_files = run_probe(noise(2 << 20, 2), false, shrink_probe::after_giving_up::drop_input);
  EXPECT_FALSE(many_files.gave_up);
  EXPECT_GE(many_files.packed.size(), 2u << 20);
  const auto few_files = run_probe(noise(64 << 10, 2), false, shrink_probe::after_giving_up::drop_input);
  EXPECT_FALSE(few_files.gave_up) << "a solid folder's small files are not sampled either";
}

// A file no longer than the probe, in a folder of its own, is judged by the
// entropy of its first 16 KiB, which the encoder never sees when they look
// incompressible.
TEST(ShrinkProbe, AShortFileOfItsOwnIsJudgedByASampleOfItsStart) {
  constexpr auto drop = shrink_probe::after_giving_up::drop_input;
  for (const std::size_t size : {std::size_t{4096}, std::size_t{10'000}, std::size_t{kProbe}}) {
    SCOPED_TRACE(size);
    const auto random = run_probe(noise(size, 3), true, drop);
    EXPECT_TRUE(random.gave_up);
    EXPECT_EQ(random.packed.size(), 0u) << "no byte went to the encoder";
  }
  for (const auto& kept : {text(10'000), noise(4095, 3), joined(text(16 << 10), noise(100'000, 3))}) {
    SCOPED_TRACE(kept.size());
    const auto result = run_probe(kept, true, drop);
    EXPECT_FALSE(result.gave_up);
    EXPECT_EQ(decoded(result, kept.size()), kept);
  }
  // Only a folder of its own is stored whole: a file's last part, after
  // parts compressed, is not sampled (its uncompressed chunks could not
  // start a stream).
  const auto last_part = noise(kProbe, 4);
  const auto raw = run_probe(last_part, true, shrink_probe::after_giving_up::raw_chunks);
  EXPECT_FALSE(raw.gave_up);
  EXPECT_EQ(decoded(raw, last_part.size()), last_part);
}

TEST(ShrinkProbe, ByteEntropyIsNearEightForNoiseEvenInAFewKiB) {
  EXPECT_GE(byte_entropy(noise(4096, 5)), shrink_probe::kIncompressibleBits);
  EXPECT_GE(byte_entropy(noise(16384, 6)), shrink_probe::kIncompressibleBits);
  EXPECT_LT(byte_entropy(text(16384)), 4.0);
  EXPECT_EQ(byte_entropy(std::vector<std::uint8_t>(1000, 7)), 0.0);
  std::vector<std::uint8_t> two(1000);
  for (std::size_t k = 0; k < two.size(); ++k) two[k] = static_cast<std::uint8_t>(k % 2);
  EXPECT_NEAR(byte_entropy(two), 1.0 + 1 / (2 * 1000 * std::numbers::ln2), 1e-9);  // with the correction
}

TEST(ShrinkProbe, RawChunksContinueTheStreamAfterGivingUp) {
  // Starts with noise, goes on with text: decided by its start, the rest is
  // written uncompressed, and the stream decodes to the whole input.
  const auto input = joined(noise(kProbe + 1000, 4), text(2 << 20));
  const auto result = run_probe(input, true, shrink_probe::after_giving_up::raw_chunks);
  EXPECT_TRUE(result.gave_up);
  const auto chunks = read_lzma2_chunks(result.packed);
  EXPECT_TRUE(chunks.error.empty()) << chunks.error;
  EXPECT_EQ(chunks.dictionary_resets, 1u);
  EXPECT_TRUE(chunks.ends_at_end_marker);
  EXPECT_LE(result.packed.size(), input.size() + input.size() / 16384 + 64);
  EXPECT_EQ(decoded(result, input.size()), input);
}

TEST(ShrinkProbe, UncompressedChunksHoldAtMost64KiBEach) {
  std::vector<std::uint8_t> packed;
  const auto input = noise(150000, 5);
  write_uncompressed_chunks(input, [&](auto bytes) { packed.insert(packed.end(), bytes.begin(), bytes.end()); });
  ASSERT_EQ(packed.size(), input.size() + 3 * 3);
  EXPECT_EQ(packed[0], 0x02);
  EXPECT_EQ(packed[1] * 256 + packed[2] + 1, 65536);
  EXPECT_EQ(packed[3 + 65536], 0x02);
  EXPECT_EQ(read_lzma2_chunks(packed).chunks, 3u);
}

// Order-0 entropy misses structure: a ramp of all 256 byte values measures
// 8.0, and so does a random block repeated. Such a sample is compressed.
TEST(ShrinkProbe, ASampleThatRepeatsItselfIsCompressed) {
  std::vector<std::uint8_t> ramp(64 << 10);
  for (std::size_t k = 0; k < ramp.size(); ++k) ramp[k] = static_cast<std::uint8_t>(k);
  EXPECT_GE(byte_entropy(std::span(ramp).first(16 << 10)), shrink_probe::kIncompressibleBits);
  EXPECT_TRUE(repeats_itself(std::span(ramp).first(16 << 10)));
  const auto block = noise(4096, 8);
  std::vector<std::uint8_t> repeated;
  for (int k = 0; k < 16; ++k) repeated.insert(repeated.end(), block.begin(), block.end());
  EXPECT_TRUE(repeats_itself(std::span(repeated).first(16 << 10)));
  EXPECT_FALSE(repeats_itself(noise(16 << 10, 9)));
  for (const auto& input : {ramp, repeated}) {
    const auto result = run_probe(input, true, shrink_probe::after_giving_up::drop_input);
    EXPECT_FALSE(result.gave_up);
    EXPECT_LT(result.packed.size(), input.size() / 8);
    EXPECT_EQ(decoded(result, input.size()), input);
  }
}

// A file whose start looks incompressible is judged whole: random bytes
// followed by zeros or text, or a random block repeated further apart than
// the sample, are compressed (7-Zip shrank them 10 to 25 times).
TEST(ShrinkProbe, AFileWhoseStartLooksIncompressibleIsJudgedWhole) {
  constexpr auto drop = shrink_probe::after_giving_up::drop_input;
  const auto block = noise(16 << 10, 11);
  std::vector<std::uint8_t> repeated;
  for (int k = 0; k < 20; ++k) repeated.insert(repeated.end(), block.begin(), block.end());
  for (const auto& kept : {joined(noise(16 << 10, 12), std::vector<std::uint8_t>(400'000, 0)),
                           joined(noise(16 << 10, 13), text(170'000)), repeated}) {
    SCOPED_TRACE(kept.size());
    const auto result = run_probe(kept, true, drop);
    EXPECT_FALSE(result.gave_up);
    EXPECT_LT(result.packed.size(), kept.size() / 5);
    EXPECT_EQ(decoded(result, kept.size()), kept);
  }
  const auto random = run_probe(noise(300'000, 14), true, drop);
  EXPECT_TRUE(random.gave_up);
  EXPECT_EQ(random.packed.size(), 0u);
  EXPECT_FALSE(looks_incompressible_throughout(repeated));
  EXPECT_TRUE(looks_incompressible_throughout(noise(300'000, 14)));
}

// Input of several files, delivered in uneven spans (as pool chunks come),
// is judged as a whole before any encoder sees it: noise is incompressible;
// noise holding a copy of a few KiB of itself, or of what came before it in
// the dictionary, repeats (a duplicate file is what LZMA saves there); noise
// followed by text is compressible, and so is input too short to judge.
TEST(ShrinkProbe, InputOfSeveralFilesIsJudgedAsAWholeWithWhatCameBefore) {
  const auto judge = [](const std::vector<std::uint8_t>& input, std::span<const std::uint8_t> before = {}) {
    const auto visit = [&](const judged_sink& sink) {
      std::size_t at = 0;
      for (std::size_t k = 0; at < input.size(); ++k) {
        const std::size_t size = std::min<std::size_t>(input.size() - at, 1000 + k * 7919 % 70000);
        if (!sink(std::span(input).subspan(at, size))) return;
        at += size;
      }
    };
    return judge_input(visit, input.size(), before);
  };
  const auto random = noise(3 << 20, 21);
  EXPECT_EQ(judge(random), input_verdict::incompressible);
  EXPECT_EQ(judge(noise(16'000, 22)), input_verdict::compressible) << "shorter than a window";

  auto with_copy = random;
  const auto copied = std::span(random).subspan(100'000, 16 << 10);
  with_copy.insert(with_copy.begin() + 2'000'000, copied.begin(), copied.end());
  EXPECT_EQ(judge(with_copy), input_verdict::repeats) << "a copy of 16 KiB in 3 MiB";

  const auto earlier = noise(1 << 20, 23);
  auto repeats_earlier = noise(1 << 20, 24);
  repeats_earlier.insert(repeats_earlier.begin() + 500'000, earlier.begin() + 4096, earlier.begin() + 4096 + 16'384);
  EXPECT_EQ(judge(repeats_earlier), input_verdict::incompressible);
  EXPECT_EQ(judge(repeats_earlier, earlier), input_verdict::repeats) << "a copy of what came before";

  EXPECT_EQ(judge(joined(noise(1 << 20, 25), text(64 << 10))), input_verdict::compressible);
  EXPECT_EQ(judge(joined(text(64 << 10), noise(1 << 20, 26))), input_verdict::compressible);
}
