#include "archive/parallel_encoder.hpp"

#include "archive/archive_error.hpp"
#include "archive/lzma2_chunks.hpp"
#include "archive/lzma_settings.hpp"
#include "archive/shrink_probe.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <random>

using namespace sevenzfs::archive;
using sevenzfs::test::decode_lzma2;
using sevenzfs::test::noise;
using sevenzfs::test::read_lzma2_chunks;

namespace {

// Blocks drawn at random from a vocabulary of 1 KiB blocks: redundant across
// any distance, so a part whose encoder did not see the input before it
// compresses visibly worse.
std::vector<std::uint8_t> redundant(std::size_t size, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::vector<std::uint8_t>> vocabulary(300, std::vector<std::uint8_t>(1024));
  for (auto& block : vocabulary) {
    for (auto& byte : block) byte = static_cast<std::uint8_t>(rng());
  }
  std::vector<std::uint8_t> data;
  data.reserve(size);
  while (data.size() < size) {
    const auto& block = vocabulary[rng() % vocabulary.size()];
    data.insert(data.end(), block.begin(), block.end());
  }
  data.resize(size);
  return data;
}

struct encoded {
  std::vector<std::uint8_t> packed;
  std::vector<packed_folder> folders;
  std::uint64_t progress = 0;
  std::uint64_t peak = 0;
};

// Compresses each input as one folder, writing it in uneven pieces.
// `one_file`: each input is one file.
encoded encode(const std::vector<std::vector<std::uint8_t>>& inputs, const lzma_options_lzma& options, unsigned threads,
               std::uint64_t longest_part = 0, bool one_file = false) {
  encoded result;
  parallel_encoder encoder(
      threads,
      [&](std::span<const std::uint8_t> bytes) {
        result.packed.insert(result.packed.end(), bytes.begin(), bytes.end());
      },
      [&](std::uint64_t bytes) { result.progress += bytes; });
  for (const auto& input : inputs) {
    encoder.begin_folder(
        options, input.size(), [&](const packed_folder& f) { result.folders.push_back(f); }, longest_part, one_file);
    for (std::size_t at = 0; at < input.size();) {
      const std::size_t n = std::min<std::size_t>(input.size() - at, 1 + (at * 7919) % 300000);
      encoder.write(std::span(input).subspan(at, n));
      at += n;
    }
    encoder.end_folder();
  }
  encoder.finish();
  result.peak = encoder.peak_buffered_bytes();
  return result;
}

std::vector<std::uint8_t> single_stream(std::span<const std::uint8_t> input, const lzma_options_lzma& options) {
  std::vector<std::uint8_t> packed;
  lzma2_encoder encoder;
  encoder.start(options);
  const span_sink collect = [&](std::span<const std::uint8_t> b) { packed.insert(packed.end(), b.begin(), b.end()); };
  encoder.write(input, collect);
  encoder.finish(collect, true);
  return packed;
}

struct split_case {
  int level;
  unsigned threads;
  std::uint64_t longest_part;  // 0: automatic
  std::uint64_t dictionary;    // 0: what covers the input
};

[[maybe_unused]] void PrintTo(const split_case& c, std::ostream* os) {
  *os << "level " << c.level << " threads " << c.threads << " longest part " << c.longest_part << " dictionary "
      << c.dictionary;
}

class PrimedParts : public testing::TestWithParam<split_case> {};

}  // namespace

TEST(PartBytesFor, CutsEvenlyIntoPartsOfOneToFourDictionaries) {
  constexpr std::uint64_t MiB = 1 << 20;
  EXPECT_EQ(part_bytes_for(256 << 10, 300 << 10, 2), 300u << 10);  // under two dictionaries: one part
  EXPECT_EQ(part_bytes_for(3 * MiB, 3 * MiB, 8), 3 * MiB);
  EXPECT_EQ(part_bytes_for(16 * MiB, 20 * MiB, 2), 20 * MiB);
  EXPECT_EQ(part_bytes_for(16 * MiB, 40 * MiB, 2), 20 * MiB);  // one per thread
  EXPECT_EQ(part_bytes_for(16 * MiB, 100 * MiB, 2), 50 * MiB);
  EXPECT_EQ(part_bytes_for(16 * MiB, 140 * MiB, 2), 35 * MiB);   // a multiple of the threads, even
  EXPECT_EQ(part_bytes_for(16 * MiB, 96 * MiB, 8), 16 * MiB);    // not shorter than a dictionary
  EXPECT_EQ(part_bytes_for(16 * MiB, 1ull << 40, 2), 64 * MiB);  // any larger folder: 4 dictionaries
  EXPECT_EQ(part_bytes_for(64 * MiB, 1ull << 40, 4), 256 * MiB);
  EXPECT_EQ(part_bytes_for(256u << 20, 1ull << 40, 4), 256 * MiB);  // at most 256 MiB
  EXPECT_EQ(part_bytes_for(64 << 10, 1ull << 40, 2), 1 * MiB);      // small dictionaries: 1 MiB
  EXPECT_EQ(part_bytes_for(16 * MiB, 1ull << 40, 2, 4 * MiB), 4 * MiB);
  EXPECT_EQ(part_bytes_for(256 << 10, 1ull << 40, 2, 16 * MiB), 1 * MiB);  // a cap, not a size
  EXPECT_EQ(part_bytes_for(16 * MiB, 1 * MiB, 4, 100 << 10), 95326u);      // tiny parts on request: 11 even ones
}

TEST(SplitForPrimers, TheFirstPartIsLongerByThePrimersPassAndTheRestCoverTheFolder) {
  constexpr std::uint64_t MiB = 1 << 20;
  const auto pass = static_cast<std::uint64_t>(kPrimerPassCost * static_cast<double>(16 * MiB));
  // Two parts of 50 MiB: the unprimed one takes the pass's length from the other.
  const auto two = split_for_primers(16 * MiB, 100 * MiB, 50 * MiB, 64 * MiB);
  EXPECT_EQ(two.first - two.rest, pass);
  EXPECT_GE(two.first + two.rest, 100 * MiB);
  EXPECT_LT(two.first + two.rest, 100 * MiB + 2);
  // Four parts: still four, the last one no longer than the others.
  const auto four = split_for_primers(16 * MiB, 140 * MiB, 35 * MiB, 64 * MiB);
  EXPECT_EQ(four.first - four.rest, pass);
  EXPECT_GE(four.first + 3 * four.rest, 140 * MiB);
  EXPECT_LT(four.first + 3 * four.rest, 140 * MiB + 4);
  // The first part stays within the longest: parts of the longest stay even.
  const auto longest = split_for_primers(16 * MiB, 1ull << 30, 64 * MiB, 64 * MiB);
  EXPECT_EQ(longest.first, 64 * MiB);
  EXPECT_EQ(longest.rest, 64 * MiB);
  // Longer by at most what the longest leaves above the even parts.
  const auto capped = split_for_primers(16 * MiB, 100 * MiB, 50 * MiB, 54 * MiB);
  EXPECT_EQ(capped.first, 52 * MiB);
  EXPECT_EQ(capped.rest, 48 * MiB);
  // One part stays one; parts would get shorter than a dictionary: even.
  const auto one = split_for_primers(16 * MiB, 20 * MiB, 20 * MiB, 64 * MiB);
  EXPECT_EQ(one.first, 20 * MiB);
  EXPECT_EQ(one.rest, 20 * MiB);
  const auto short_rest = split_for_primers(16 * MiB, 40 * MiB, 20 * MiB, 64 * MiB);
  EXPECT_EQ(short_rest.first, 20 * MiB);
  EXPECT_EQ(short_rest.rest, 20 * MiB);
}

TEST_P(PrimedParts, DecodeAsOneStreamWithOneDictionaryReset) {
  const auto [level, threads, longest, dictionary] = GetParam();
  const auto input = redundant(3 << 20, 1);
  const auto options = lzma2_options_for(level, dictionary > 0 ? dictionary : input.size());
  const std::uint64_t part = part_bytes_for(options.dict_size, input.size(), threads, longest);
  const std::size_t parts = (input.size() + part - 1) / part;
  ASSERT_GE(parts, 2u) << "the case must split the folder";

  const auto result = encode({input}, options, threads, longest);
  const auto chunks = read_lzma2_chunks(result.packed);
  ASSERT_EQ(chunks.error, "");
  EXPECT_EQ(chunks.dictionary_resets, 1u);
  EXPECT_EQ(chunks.property_chunks, parts);  // one per part; only the first resets the dictionary
  EXPECT_TRUE(chunks.ends_at_end_marker);
  lzma_ret status{};
  EXPECT_EQ(decode_lzma2(result.packed, options.dict_size, input.size(), &status), input);
  EXPECT_EQ(status, LZMA_STREAM_END);
  ASSERT_EQ(result.folders.size(), 1u);
  EXPECT_EQ(result.folders[0].pack_size, result.packed.size());
  EXPECT_FALSE(result.folders[0].stored);
  EXPECT_EQ(result.progress, input.size());
}

// Automatic parts are at least a dictionary long: primed with one earlier
// part. Shorter parts on request: primed with several.
INSTANTIATE_TEST_SUITE_P(Splits, PrimedParts,
                         testing::Values(split_case{1, 2, 0, 0}, split_case{5, 2, 0, 1 << 20},
                                         split_case{9, 3, 0, 512 << 10}, split_case{5, 8, 0, 256 << 10},
                                         split_case{1, 2, 100 << 10, 0}, split_case{3, 3, 300 << 10, 0},
                                         split_case{9, 2, 700 << 10, 0}));

TEST(ParallelEncoder, PrimedPartsCompressAsWellAsOneStream) {
  const auto input = redundant(6 << 20, 2);
  const auto options = lzma2_options_for(3, input.size());  // 4 MiB dictionary
  const auto whole = single_stream(input, options);
  const auto parts = encode({input}, options, 4, 1 << 20);  // 6 parts, each shorter than the dictionary
  EXPECT_EQ(read_lzma2_chunks(parts.packed).property_chunks, 6u);
  // Parts that restarted the dictionary would be several times larger here.
  EXPECT_LE(static_cast<double>(parts.packed.size()), 1.01 * static_cast<double>(whole.size()))
      << parts.packed.size() << " vs " << whole.size();
}

TEST(ParallelEncoder, IncompressiblePartsStayLzma2AndASinglePartIsStored) {
  auto mixed = redundant(1 << 20, 3);
  const auto random = noise(1 << 20, 4);
  mixed.insert(mixed.end(), random.begin(), random.end());
  const auto alone = noise(300000, 5);
  const auto options = lzma2_options_for(5, mixed.size());
  const auto result = encode({mixed, alone}, options, 2, 512 << 10);
  ASSERT_EQ(result.folders.size(), 2u);
  EXPECT_FALSE(result.folders[0].stored);
  EXPECT_TRUE(result.folders[1].stored);
  EXPECT_EQ(result.folders[1].pack_size, alone.size());
  const auto first = std::span(result.packed).first(result.folders[0].pack_size);
  EXPECT_EQ(read_lzma2_chunks(first).dictionary_resets, 1u);
  lzma_ret status{};
  EXPECT_EQ(decode_lzma2(first, options.dict_size, mixed.size(), &status), mixed);
  EXPECT_EQ(status, LZMA_STREAM_END);
  EXPECT_TRUE(std::equal(alone.begin(), alone.end(), result.packed.begin() + first.size()));
}

// One file of noise holding a copy of its first 2 MiB, in parts of 1 MiB:
// each part is judged before an encoder sees it. The noise needs no
// encoder, and the parts of the copy, primed with the noise before them,
// find it. A probe would have given up on the first part, and the rest
// would have started dictionaries of their own that lacked the noise.
TEST(ParallelEncoder, AFileOfNoiseThatRepeatsItselfFindsTheCopy) {
  auto input = noise(2 << 20, 9);
  input.insert(input.end(), input.begin(), input.end());
  const auto options = lzma2_options_for(5, input.size());
  const auto result = encode({input}, options, 2, 1 << 20, true);
  ASSERT_EQ(result.folders.size(), 1u);
  EXPECT_FALSE(result.folders[0].stored);
  EXPECT_LT(result.packed.size(), (2u << 20) + (64u << 10)) << "the copy was not found";
  const auto chunks = read_lzma2_chunks(result.packed);
  EXPECT_TRUE(chunks.error.empty()) << chunks.error;
  EXPECT_EQ(chunks.dictionary_resets, 1u);
  EXPECT_GE(chunks.uncompressed_chunks, 2u * (1u << 20) / 65536) << "the noise went without an encoder";
  lzma_ret status{};
  EXPECT_EQ(decode_lzma2(result.packed, options.dict_size, input.size(), &status), input);
  EXPECT_EQ(status, LZMA_STREAM_END);
}

TEST(ParallelEncoder, OneIncompressibleFileIsGivenUpEarly) {
  // Bytes from 224 values: liblzma saves about 1 % on them, less than the
  // probe asks for, so its chunks are LZMA chunks where the probe's are not.
  std::mt19937 rng(6);
  std::vector<std::uint8_t> barely(3 << 20);
  for (auto& byte : barely) byte = static_cast<std::uint8_t>(rng() % 224);
  const auto options = lzma2_options_for(5, barely.size());
  // One part: stored.
  const auto alone = encode({barely}, options, 2, 0, true);
  ASSERT_EQ(alone.folders.size(), 1u);
  EXPECT_TRUE(alone.folders[0].stored);
  EXPECT_EQ(alone.packed, barely);
  // Three parts: the rest of each after its probe is uncompressed chunks,
  // and the folder stays one LZMA2 stream.
  const auto parts = encode({barely}, options, 2, 1 << 20, true);
  ASSERT_EQ(parts.folders.size(), 1u);
  EXPECT_FALSE(parts.folders[0].stored);
  const auto chunks = read_lzma2_chunks(parts.packed);
  EXPECT_TRUE(chunks.error.empty()) << chunks.error;
  EXPECT_TRUE(chunks.ends_at_end_marker);
  EXPECT_EQ(chunks.property_chunks, 3u) << "each part compressed its probe";
  EXPECT_EQ(chunks.dictionary_resets, 3u) << "a part after one that gave up is not primed with its input";
  EXPECT_GE(chunks.uncompressed_chunks, 3u * ((1u << 20) - shrink_probe::kProbeBytes) / 65536);
  lzma_ret status{};
  EXPECT_EQ(decode_lzma2(parts.packed, options.dict_size, barely.size(), &status), barely);
  EXPECT_EQ(status, LZMA_STREAM_END);
  // A folder of several files is compressed whole.
  const auto several = encode({barely}, options, 2, 1 << 20, false);
  EXPECT_EQ(read_lzma2_chunks(several.packed).uncompressed_chunks, 0u);
  EXPECT_LT(several.packed.size(), barely.size());
}

TEST(ParallelEncoder, FoldersComeOutInOrder) {
  // A large folder first, then small ones that finish sooner on other workers.
  std::vector<std::vector<std::uint8_t>> inputs{redundant(3 << 20, 6)};
  for (std::uint32_t i = 0; i < 12; ++i) inputs.push_back(redundant(1000 + i * 5000, 10 + i));
  std::vector<std::uint8_t> packed;
  std::vector<std::uint64_t> progress_at_done;
  std::uint64_t progress = 0;
  parallel_encoder encoder(
      3, [&](std::span<const std::uint8_t> bytes) { packed.insert(packed.end(), bytes.begin(), bytes.end()); },
      [&](std::uint64_t bytes) { progress += bytes; });
  std::vector<packed_folder> folders;
  for (const auto& input : inputs) {
    encoder.begin_folder(lzma2_options_for(5, input.size()), input.size(), [&](const packed_folder& f) {
      folders.push_back(f);
      progress_at_done.push_back(progress);
    });
    encoder.write(input);
    encoder.end_folder();
  }
  encoder.finish();
  ASSERT_EQ(folders.size(), inputs.size());
  std::size_t at = 0;
  std::uint64_t input_so_far = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    input_so_far += inputs[i].size();
    EXPECT_EQ(progress_at_done[i], input_so_far) << "progress counts written folders only";
    const auto stream = std::span(packed).subspan(at, folders[i].pack_size);
    at += folders[i].pack_size;
    if (folders[i].stored) {  // the smallest do not shrink
      EXPECT_TRUE(std::ranges::equal(stream, inputs[i])) << "folder " << i;
      continue;
    }
    lzma_ret status{};
    EXPECT_EQ(decode_lzma2(stream, lzma2_options_for(5, inputs[i].size()).dict_size, inputs[i].size(), &status),
              inputs[i])
        << "folder " << i;
    EXPECT_EQ(status, LZMA_STREAM_END);
  }
  EXPECT_EQ(at, packed.size());
  EXPECT_FALSE(folders.front().stored);
}

TEST(ParallelEncoder, ShortFoldersBehindALongPartKeepTheOtherWorkerBusy) {
  // A long part on one worker; the other compresses the small folders handed
  // out after it meanwhile, instead of the caller waiting for the long part
  // to be output. Counted: small folders handed out before the long one is done.
  const auto large = redundant(6 << 20, 20);
  const auto small = redundant(2000, 21);
  parallel_encoder encoder(2, [](std::span<const std::uint8_t>) {}, {});
  std::atomic<bool> large_done{false};
  int handed_before_done = 0;
  encoder.begin_folder(lzma2_options_for(5, large.size()), large.size(), [&](const packed_folder&) {
    large_done = true;
  });
  encoder.write(large);
  encoder.end_folder();
  for (int i = 0; i < 60; ++i) {
    encoder.begin_folder(lzma2_options_for(5, small.size()), small.size(), [](const packed_folder&) {});
    encoder.write(small);
    encoder.end_folder();
    if (!large_done) ++handed_before_done;
  }
  encoder.finish();
  EXPECT_TRUE(large_done);
  // Waiting for the long part's turn would allow two or three.
  EXPECT_GE(handed_before_done, 10);
}

TEST(ParallelEncoder, MemoryDoesNotGrowWithTheFolder) {
  const auto options = lzma2_options_for(1, 1ull << 30);  // 256 KiB dictionary, 1 MiB parts
  const std::uint64_t part = part_bytes_for(options.dict_size, 1ull << 30, 2);
  const std::uint64_t bound = parallel_buffer_bytes(2, part, options.dict_size);
  ASSERT_LT(bound, 8u << 20);
  const auto small = encode({redundant(3 << 20, 7)}, options, 2);
  const auto large = encode({redundant(10 << 20, 8)}, options, 2);  // more than the bound
  EXPECT_LE(small.peak, bound);
  EXPECT_LE(large.peak, bound);
  EXPECT_GE(large.peak, 2 * part) << "the accounting must see the parts";

  // Incompressible parts, and parts shorter than the dictionary.
  const auto random = encode({noise(3 << 20, 9)}, options, 2);
  EXPECT_LE(random.peak, bound);
  const std::uint64_t tiny = 64 << 10;
  const auto tiny_parts = encode({redundant(2 << 20, 10)}, options, 3, tiny);
  EXPECT_LE(tiny_parts.peak, parallel_buffer_bytes(3, tiny, options.dict_size));
}

TEST(ParallelEncoder, OutputErrorReachesTheCallerAndStopsCleanly) {
  const auto input = redundant(4 << 20, 11);
  const auto options = lzma2_options_for(1, input.size());
  parallel_encoder encoder(
      2, [](std::span<const std::uint8_t>) { throw archive_error(error_kind::io, "/out", "disk full"); }, {});
  EXPECT_THROW(
      {
        encoder.begin_folder(options, input.size(), [](const packed_folder&) {});
        encoder.write(input);
        encoder.end_folder();
        encoder.finish();
      },
      archive_error);
}
