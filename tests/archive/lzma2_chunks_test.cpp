// LZMA2 chunk headers walked without decoding: sizes, where the dictionary
// resets (in the output and in the packed bytes), with or without the end
// marker, malformed streams refused; a stream our encoder wrote in two
// unprimed pieces resets where the second begins; dictionary sizes of
// property bytes.
#include "archive/lzma2_chunks.hpp"

#include "archive/file_io.hpp"
#include "archive/lzma2_encoder.hpp"
#include "archive/lzma_settings.hpp"

#include "archive/archive_model.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>

#include <string>
#include <vector>

using namespace sevenzfs::archive;
using namespace sevenzfs::test;

// The chunk headers of a stream, walked without decoding: uncompressed
// chunks (0x01 resets, 0x02 does not) and LZMA chunks (0xE0 and up reset
// the dictionary; 0xC0 and 0xA0, new properties and a state reset, and 0x80
// do not).
TEST(Lzma2Chunks, ChunkHeadersAreWalkedWithoutDecoding) {
  temp_dir dir;
  const auto walk = [&](const std::string& stream) {
    write_file(dir / "stream", stream);
    unique_fd fd(::open((dir / "stream").c_str(), O_RDONLY | O_CLOEXEC));
    return walk_lzma2_chunks(fd.get(), {0, stream.size()});
  };
  using namespace std::string_literals;
  const std::string lzma_chunks =
      "\xE0\x00\x09\x00\x03\x5D"
      "abcd"  // 10 bytes, 4 packed, reset
      "\x80\x00\x04\x00\x01"
      "ef"  // 5 bytes, 2 packed
      "\xC1\x00\x00\x00\x00\x5D"
      "g"  // 65,537 bytes, 1 packed
      "\x02\x00\x01"
      "hi"  // 2 bytes stored
      "\xE0\x00\x00\x00\x00\x5D"
      "j"  // 1 byte, reset
      "\x02\x00\x02"
      "klm"  // 3 bytes stored
      "\xA0\x00\x01\x00\x00"
      "n"  // 2 bytes, a state reset only
      "\xC0\x00\x00\x00\x00\x5D"
      "o"s;  // 1 byte, new properties only
  const auto chunks = walk(lzma_chunks + '\0');
  ASSERT_TRUE(chunks);
  EXPECT_EQ(chunks->unpacked_bytes, 10u + 5 + 65'537 + 2 + 1 + 3 + 2 + 1);
  EXPECT_EQ(chunks->resets, (std::vector<lzma2_reset>{{0, 0}, {10u + 5 + 65'537 + 2, 29}}));
  EXPECT_EQ(chunks->last_dictionary_reset(), 10u + 5 + 65'537 + 2);

  const auto stored = walk(
      "\x01\x00\x02"
      "abc"
      "\x01\x00\x00"
      "d"
      "\x02\x00\x00"
      "e"s +
      '\0');
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->unpacked_bytes, 5u);
  EXPECT_EQ(stored->resets, (std::vector<lzma2_reset>{{0, 0}, {3, 6}}));

  EXPECT_TRUE(chunks->ends_with_marker);

  // Without the end marker the stream ends with its last chunk.
  const auto unmarked = walk(lzma_chunks);
  ASSERT_TRUE(unmarked) << "no end marker";
  EXPECT_FALSE(unmarked->ends_with_marker);
  EXPECT_EQ(unmarked->unpacked_bytes, chunks->unpacked_bytes);
  EXPECT_EQ(unmarked->resets, chunks->resets);
  EXPECT_FALSE(walk(lzma_chunks.substr(0, lzma_chunks.size() - 1))) << "the last chunk runs past the end";
  EXPECT_FALSE(walk("")) << "no chunk";
  EXPECT_FALSE(walk(lzma_chunks + '\0' + '\0')) << "the end marker is not the last byte";
  EXPECT_FALSE(
      walk("\x02\x00\x00"
           "a"s +
           '\0'))
      << "the first chunk keeps a dictionary it has not got";
  EXPECT_FALSE(
      walk("\x01\x00\x00"
           "a"
           "\x05"s +
           '\0'))
      << "not a control byte";
  EXPECT_FALSE(
      walk("\x01\x00\x05"
           "a"s +
           '\0'))
      << "a chunk runs past the end";
  EXPECT_FALSE(walk("\xE0\x00"s)) << "a header cut short";
}

TEST(Lzma2Chunks, DictionarySizesOfPropertyBytes) {
  EXPECT_EQ(lzma2_dictionary_of(0), 4096u);
  EXPECT_EQ(lzma2_dictionary_of(1), 6144u);
  EXPECT_EQ(lzma2_dictionary_of(24), 16u << 20);
  EXPECT_EQ(lzma2_dictionary_of(40), UINT32_MAX);
  EXPECT_FALSE(lzma2_dictionary_of(41));
}

// Two pieces compressed by encoders without a primer make one stream that
// resets the dictionary where the second begins (the walk finds the reset
// by its control byte, not by knowing how it was made).
TEST(Lzma2Chunks, AnUnprimedSecondPieceResetsTheDictionary) {
  temp_dir dir;
  const std::string first = sample_text("first", 3'000'000);
  const std::string second = sample_text("second", 1'000'000);
  std::string stream;
  const span_sink collect = [&](std::span<const std::uint8_t> bytes) { stream.append(bytes.begin(), bytes.end()); };
  lzma2_encoder encoder;
  const auto as_bytes = [](const std::string& text) {
    return std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  };
  encoder.start(lzma2_options_for(5, first.size() + second.size()), {});
  encoder.write(as_bytes(first), collect);
  encoder.finish(collect, false);
  const std::uint64_t first_packed = stream.size();
  encoder.start(lzma2_options_for(5, first.size() + second.size()), {});
  encoder.write(as_bytes(second), collect);
  encoder.finish(collect, true);

  write_file(dir / "stream", stream);
  unique_fd fd(::open((dir / "stream").c_str(), O_RDONLY | O_CLOEXEC));
  const auto chunks = walk_lzma2_chunks(fd.get(), {0, stream.size()});
  ASSERT_TRUE(chunks);
  EXPECT_EQ(chunks->unpacked_bytes, first.size() + second.size());
  EXPECT_EQ(chunks->resets, (std::vector<lzma2_reset>{{0, 0}, {first.size(), first_packed}}));
}
