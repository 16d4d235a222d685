#include "archive/header_compressor.hpp"

#include "archive/lzma2_chunks.hpp"
#include "archive/lzma_settings.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cstdint>
#include <vector>

using namespace sevenzfs::archive;
using namespace sevenzfs::test;

namespace {

// What a header of many files holds: columns of names (UTF-16LE), sizes and
// CRCs, each repeating its neighbours' shape.
std::vector<std::uint8_t> header_like(std::size_t files) {
  std::vector<std::uint8_t> header;
  for (std::size_t i = 0; i < files; ++i) {
    for (const char c : fmt::format("cache/{:02x}/{:08x}.blob", i % 251, i * 2654435761u % 4294967291u)) {
      header.push_back(static_cast<std::uint8_t>(c));
      header.push_back(0);
    }
    header.push_back(0);
    header.push_back(0);
  }
  for (std::size_t i = 0; i < files; ++i) {
    const std::uint64_t size = 9000 + (i * 7919) % 3000;
    header.push_back(static_cast<std::uint8_t>(0x80 | (size >> 8)));
    header.push_back(static_cast<std::uint8_t>(size));
  }
  for (std::size_t i = 0; i < files; ++i) {
    const std::uint32_t crc = static_cast<std::uint32_t>(i * 2246822519u + 3266489917u);
    for (int b = 0; b < 4; ++b) header.push_back(static_cast<std::uint8_t>(crc >> (8 * b)));
  }
  return header;
}

// The stream as it is written: the parts one after another.
std::vector<std::uint8_t> joined(const compressed_header& header) {
  std::vector<std::uint8_t> stream;
  for (const auto& part : header.parts) stream.insert(stream.end(), part.begin(), part.end());
  EXPECT_EQ(stream.size(), header.size());
  return stream;
}

std::vector<std::uint8_t> decoded(const compressed_header& header, std::size_t size) {
  lzma_ret status = LZMA_OK;
  auto plain = decode_lzma2(joined(header), lzma2_header_options(size).dict_size, size, &status);
  EXPECT_EQ(status, LZMA_STREAM_END);
  return plain;
}

}  // namespace

TEST(HeaderCompressor, PartsAreAtLeastTwoDictionariesAndAtMostOnePerThread) {
  constexpr std::uint64_t MiB = 1 << 20;
  EXPECT_EQ(header_parts_for(3 * MiB, 2), 1u);
  EXPECT_EQ(header_parts_for(4 * MiB, 2), 2u);
  EXPECT_EQ(header_parts_for(140 * MiB, 2), 2u);
  EXPECT_EQ(header_parts_for(140 * MiB, 1), 1u);
  EXPECT_EQ(header_parts_for(5 * MiB, 8), 2u);
  EXPECT_EQ(header_parts_for(100, 0), 1u);
}

TEST(HeaderCompressor, ALongHeaderIsCompressedInPrimedPartsThatDecodeAsOneStream) {
  const auto plain = header_like(90'000);
  ASSERT_EQ(header_parts_for(plain.size(), 2), 2u);
  const auto whole = compress_header(plain, 1);
  const auto parted = compress_header(plain, 2);
  EXPECT_EQ(parted.property, whole.property);

  EXPECT_EQ(parted.parts.size(), 2u) << "kept apart, not joined";
  const auto chunks = read_lzma2_chunks(joined(parted));
  ASSERT_TRUE(chunks.error.empty()) << chunks.error;
  EXPECT_EQ(chunks.property_chunks, 2u) << "two parts";
  EXPECT_EQ(chunks.dictionary_resets, 1u) << "the second part continues the first one's dictionary";
  EXPECT_TRUE(chunks.ends_at_end_marker);
  EXPECT_EQ(read_lzma2_chunks(joined(whole)).property_chunks, 1u);

  EXPECT_EQ(decoded(parted, plain.size()), plain);
  EXPECT_EQ(decoded(whole, plain.size()), plain);
  // Primed, the parts lose next to nothing against one stream.
  EXPECT_LE(static_cast<double>(parted.size()), 1.005 * static_cast<double>(whole.size()));
}

TEST(HeaderCompressor, AShortHeaderIsOnePart) {
  const auto plain = header_like(2'000);
  const auto header = compress_header(plain, 2);
  EXPECT_EQ(header.parts.size(), 1u);
  const auto chunks = read_lzma2_chunks(joined(header));
  ASSERT_TRUE(chunks.error.empty()) << chunks.error;
  EXPECT_EQ(chunks.property_chunks, 1u);
  EXPECT_EQ(chunks.dictionary_resets, 1u);
  EXPECT_EQ(decoded(header, plain.size()), plain);
}
