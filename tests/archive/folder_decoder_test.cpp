// The folder decoder on folders built here with liblzma's encoders (and a
// small BCJ2 encoder), so every coder graph shape is checked without 7zz:
// single coders, chains, filters without LZMA below, BCJ2's four streams,
// pending streams with no end marker, and malformed folders.
#include "archive/folder_decoder.hpp"

#include "archive/archive_error.hpp"
#include "archive/coder_methods.hpp"
#include "archive/file_io.hpp"
#include "bcj2_test_encoder.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <lzma.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <random>

using namespace sevenzfs::archive;
using bytes = std::vector<std::uint8_t>;

namespace {

bytes sample(std::size_t size, unsigned seed = 1) {
  std::mt19937 rng(seed);
  const char* words[] = {"call ", "jump ", "\xE8\x10\x00\x00\x00", "\x0F\x85", "\xE9", "text\n", "{\"id\": 42}"};
  bytes data;
  while (data.size() < size) {
    const char* w = words[rng() % 7];
    const std::size_t n = w[0] == '\xE8' ? 5 : std::strlen(w);
    data.insert(data.end(), w, w + n);
    // Random runs, so that every branch filter finds something to convert.
    if (rng() % 3 == 0) {
      for (int i = 0; i < 4; ++i) data.push_back(static_cast<std::uint8_t>(rng()));
    }
  }
  data.resize(size);
  return data;
}

// Encodes `input` with a liblzma raw encoder chain (top filter first).
bytes raw_encode(std::vector<lzma_filter> filters, std::span<const std::uint8_t> input,
                 lzma_action last = LZMA_FINISH) {
  filters.push_back({LZMA_VLI_UNKNOWN, nullptr});
  lzma_stream stream = LZMA_STREAM_INIT;
  EXPECT_EQ(lzma_raw_encoder(&stream, filters.data()), LZMA_OK);
  bytes out(input.size() + input.size() / 2 + 4096);
  stream.next_in = input.data();
  stream.avail_in = input.size();
  stream.next_out = out.data();
  stream.avail_out = out.size();
  lzma_ret ret = LZMA_OK;
  do ret = lzma_code(&stream, last);
  while (ret == LZMA_OK && stream.avail_in > 0);
  if (last == LZMA_FINISH) {
    EXPECT_EQ(ret, LZMA_STREAM_END);
  }
  out.resize(out.size() - stream.avail_out);
  lzma_end(&stream);
  return out;
}

// The 7z coder properties liblzma stores for `filter`.
bytes properties_of(const lzma_filter& filter) {
  std::uint32_t size = 0;
  EXPECT_EQ(lzma_properties_size(&size, &filter), LZMA_OK);
  bytes props(size);
  EXPECT_EQ(lzma_properties_encode(&filter, props.data()), LZMA_OK);
  return props;
}

lzma_options_lzma lzma_options(std::uint32_t preset = 6) {
  lzma_options_lzma options{};
  lzma_lzma_preset(&options, preset);
  return options;
}

// A file holding `packs` back to back after 32 bytes of padding.
struct pack_file {
  sevenzfs::test::temp_dir dir;
  unique_fd fd;
  std::vector<pack_stream_range> ranges;

  explicit pack_file(const std::vector<bytes>& packs) {
    const auto path = (dir / "packs").string();
    fd = unique_fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    std::uint64_t offset = 32;
    write_at(fd.get(), 0, bytes(32, 0xAA), path);
    for (const auto& pack : packs) {
      write_at(fd.get(), offset, pack, path);
      ranges.push_back({offset, pack.size()});
      offset += pack.size();
    }
  }
};

coder_info coder(const coder_bytes& id, const bytes& props = {}, std::uint32_t inputs = 1) {
  return {id, coder_bytes(props.begin(), props.end()), inputs, 1};
}

bytes decode_all(const folder_info& folder, const std::vector<bytes>& packs, folder_decoder_options options = {}) {
  pack_file file(packs);
  folder_decoder decoder(file.fd.get(), "test.7z", folder, file.ranges, options);
  bytes out(static_cast<std::size_t>(decoder.size()));
  // Uneven reads, as FUSE and the cache ask.
  for (std::size_t at = 0; at < out.size();) {
    const std::size_t n = std::min<std::size_t>(out.size() - at, 1 + (at * 7919) % 100000);
    EXPECT_EQ(decoder.read(std::span(out).subspan(at, n)), n);
    at += n;
  }
  bytes extra(16);
  EXPECT_EQ(decoder.read(extra), 0u);
  return out;
}

folder_info single(coder_info c, std::uint64_t size, small_vector<std::uint64_t, 1> packed_streams = {0}) {
  folder_graph graph;
  graph.coders.push_back(std::move(c));
  graph.packed_streams = std::move(packed_streams);
  return folder_info(std::move(graph), {size});
}

// filter (coder 0) <- LZMA2 (coder 1) <- pack stream, as 7-Zip writes BCJ chains.
folder_info filter_over_lzma2(const coder_bytes& filter_id, const bytes& filter_props, const bytes& lzma2_props,
                              std::uint64_t size) {
  folder_graph graph;
  graph.coders = {coder(filter_id, filter_props), coder(kMethodLzma2, lzma2_props)};
  graph.bind_pairs = {{0, 1}};
  graph.packed_streams = {1};
  return folder_info(std::move(graph), {size, size});
}

template <typename Fn>
archive_error expect_error(Fn&& fn, error_kind kind) {
  try {
    fn();
  } catch (const archive_error& error) {
    EXPECT_EQ(error.kind(), kind) << error.what();
    return error;
  }
  ADD_FAILURE() << "no archive_error";
  return archive_error(error_kind::io, "", "none");
}

}  // namespace

TEST(FolderDecoder, CopyAndLzma2) {
  const auto data = sample(300'000);
  EXPECT_EQ(decode_all(single(coder(kMethodCopy), data.size()), {data}), data);
  auto options = lzma_options();
  const lzma_filter lzma2{LZMA_FILTER_LZMA2, &options};
  const auto packed = raw_encode({lzma2}, data);
  EXPECT_EQ(decode_all(single(coder(kMethodLzma2, properties_of(lzma2)), data.size()), {packed}), data);
}

TEST(FolderDecoder, LzmaWithAndWithoutEndMarker) {
  const auto data = sample(200'000, 2);
  auto options = lzma_options();
  const lzma_filter lzma1{LZMA_FILTER_LZMA1, &options};
  const auto props = properties_of(lzma1);
  // liblzma's raw LZMA1 encoder always writes the end marker; LZMA1EXT can
  // leave it out, as 7-Zip does.
  EXPECT_EQ(decode_all(single(coder(kMethodLzma, props), data.size()), {raw_encode({lzma1}, data)}), data);
  options.ext_flags = 0;
  options.ext_size_low = static_cast<std::uint32_t>(data.size());
  options.ext_size_high = 0;
  const lzma_filter lzma1ext{LZMA_FILTER_LZMA1EXT, &options};
  const auto without_marker = raw_encode({lzma1ext}, data);
  EXPECT_EQ(decode_all(single(coder(kMethodLzma, props), data.size()), {without_marker}), data);
}

TEST(FolderDecoder, EveryLiblzmaFilterOverLzma2AndAlone) {
  const auto data = sample(150'000, 3);
  auto options = lzma_options(1);
  const lzma_filter lzma2{LZMA_FILTER_LZMA2, &options};
  lzma_options_delta delta{};
  delta.type = LZMA_DELTA_TYPE_BYTE;
  delta.dist = 4;
  lzma_options_bcj start{};
  start.start_offset = 4096;
  const std::vector<std::pair<coder_bytes, lzma_filter>> cases{
      {{0x03, 0x03, 0x01, 0x03}, {LZMA_FILTER_X86, nullptr}},
      {{0x04}, {LZMA_FILTER_X86, &start}},
      {{0x03, 0x03, 0x02, 0x05}, {LZMA_FILTER_POWERPC, nullptr}},
      {{0x06}, {LZMA_FILTER_IA64, nullptr}},
      {{0x07}, {LZMA_FILTER_ARM, nullptr}},
      {{0x03, 0x03, 0x07, 0x01}, {LZMA_FILTER_ARMTHUMB, nullptr}},
      {{0x09}, {LZMA_FILTER_SPARC, nullptr}},
      {{0x0A}, {LZMA_FILTER_ARM64, nullptr}},
      {{0x03}, {LZMA_FILTER_DELTA, &delta}}};
  for (const auto& [id, filter] : cases) {
    SCOPED_TRACE(method_name(id));
    const auto filter_props = filter.options != nullptr ? properties_of(filter) : bytes{};
    const auto packed = raw_encode({filter, lzma2}, data);
    EXPECT_EQ(decode_all(filter_over_lzma2(id, filter_props, properties_of(lzma2), data.size()), {packed}), data);
    // A filter straight over a pack stream (7zz -m0=BCJ): the transformed
    // bytes, as Copy over LZMA2 gives them back.
    const bytes transformed = decode_all(filter_over_lzma2({0x00}, {}, properties_of(lzma2), data.size()), {packed});
    ASSERT_NE(transformed, data);
    EXPECT_EQ(decode_all(single(coder(id, filter_props), data.size()), {transformed}), data);
  }
}

TEST(FolderDecoder, Bcj2FourStreams) {
  for (const std::size_t size : {0, 1, 5, 100'000, 700'000}) {
    SCOPED_TRACE(size);
    const auto data = sample(size, 4);
    const auto streams = sevenzfs::test::bcj2_encode(data);
    if (size > 1000) {
      EXPECT_GT(streams.call.size(), 100u);
      EXPECT_GT(streams.jump.size(), 100u);
    }
    const folder_info folder = single(coder({0x03, 0x03, 0x01, 0x1B}, {}, 4), data.size(), {0, 1, 2, 3});
    EXPECT_EQ(decode_all(folder, {streams.main, streams.call, streams.jump, streams.rc}), data);
  }
}

TEST(FolderDecoder, PendingLzma2StreamWithoutEndMarker) {
  const auto data = sample(400'000, 5);
  auto options = lzma_options();
  const lzma_filter lzma2{LZMA_FILTER_LZMA2, &options};
  // Sync-flushed, not finished: every byte is decodable, no end marker.
  const auto flushed = raw_encode({lzma2}, data, LZMA_SYNC_FLUSH);
  // The writer will add more; only what it flushed is described.
  auto folder = single(coder(kMethodLzma2, properties_of(lzma2)), data.size() + 1'000'000);
  EXPECT_EQ(decode_all(folder, {flushed}, {.available = data.size(), .entry = std::nullopt}), data);
  EXPECT_EQ(decode_all(single(coder(kMethodLzma2, properties_of(lzma2)), data.size()), {flushed}), data);
}

TEST(FolderDecoder, SkipAndPosition) {
  const auto data = sample(500'000, 6);
  auto options = lzma_options();
  const lzma_filter lzma2{LZMA_FILTER_LZMA2, &options};
  pack_file file({raw_encode({lzma2}, data)});
  folder_decoder decoder(file.fd.get(), "t.7z", single(coder(kMethodLzma2, properties_of(lzma2)), data.size()),
                         file.ranges);
  decoder.skip(123'457);
  EXPECT_EQ(decoder.position(), 123'457u);
  bytes part(1000);
  decoder.read(part);
  EXPECT_TRUE(std::equal(part.begin(), part.end(), data.begin() + 123'457));
  decoder.skip(10'000'000);
  EXPECT_EQ(decoder.position(), data.size());
  EXPECT_GT(decoder.memory_usage(), 0u);
}

// Two LZMA2 streams, the first without its end marker, make one stream
// that resets the dictionary where the second begins: decoding can start
// there. An entry point elsewhere than a reset is damaged data, not a
// crash; other folder shapes have no entry points.
TEST(FolderDecoder, StartsAtADictionaryReset) {
  const auto head = sample(300'000, 11);
  const auto tail = sample(200'000, 12);
  auto options = lzma_options();
  const lzma_filter lzma2{LZMA_FILTER_LZMA2, &options};
  auto packed = raw_encode({lzma2}, head);
  ASSERT_EQ(packed.back(), 0x00);
  packed.pop_back();
  const lzma2_reset entry{head.size(), packed.size()};
  const auto second = raw_encode({lzma2}, tail);
  packed.insert(packed.end(), second.begin(), second.end());
  bytes whole = head;
  whole.insert(whole.end(), tail.begin(), tail.end());
  const auto folder = single(coder(kMethodLzma2, properties_of(lzma2)), whole.size());
  ASSERT_EQ(decode_all(folder, {packed}), whole);

  pack_file file({packed});
  const folder_decoder_options from_entry{
      .memory_limit = kDefaultDecoderMemoryLimit, .available = std::nullopt, .entry = entry};
  folder_decoder decoder(file.fd.get(), "t.7z", folder, file.ranges, from_entry);
  EXPECT_EQ(decoder.position(), head.size());
  EXPECT_EQ(decoder.size(), whole.size());
  bytes out(tail.size());
  EXPECT_EQ(decoder.read(out), tail.size());
  EXPECT_EQ(out, tail);
  bytes extra(16);
  EXPECT_EQ(decoder.read(extra), 0u);

  const auto read_from = [&](lzma2_reset at) {
    folder_decoder d(file.fd.get(), "t.7z", folder, file.ranges,
                     {.memory_limit = kDefaultDecoderMemoryLimit, .available = std::nullopt, .entry = at});
    bytes rest(static_cast<std::size_t>(d.size() - d.position()));
    d.read(rest);
  };
  expect_error([&] { read_from({head.size(), packed.size() / 3}); }, error_kind::corrupt_archive);
  expect_error([&] { read_from({head.size(), packed.size()}); }, error_kind::corrupt_archive);
  expect_error([&] { read_from({whole.size() + 1, entry.packed}); }, error_kind::corrupt_archive);
  auto bcj_options = lzma_options();
  expect_error(
      [&] {
        folder_decoder d(file.fd.get(), "t.7z",
                         filter_over_lzma2({0x03, 0x03, 0x01, 0x03}, {},
                                           properties_of({LZMA_FILTER_LZMA2, &bcj_options}), whole.size()),
                         file.ranges, from_entry);
      },
      error_kind::invalid_input);
}

TEST(FolderDecoder, HugeClaimedDictionaryCostsOnlyTheOutput) {
  const auto data = sample(50'000, 7);
  auto options = lzma_options();
  options.dict_size = 0xFFFFFFFF;  // 4 GiB - 1, property byte 40
  const lzma_filter lzma2{LZMA_FILTER_LZMA2, &options};
  const auto props = properties_of(lzma2);
  ASSERT_EQ(props, bytes{40});
  auto small = lzma_options();
  const auto packed = raw_encode({{LZMA_FILTER_LZMA2, &small}}, data);
  pack_file file({packed});
  folder_decoder decoder(file.fd.get(), "t.7z", single(coder(kMethodLzma2, props), data.size()), file.ranges,
                         {.memory_limit = 8 << 20, .available = std::nullopt, .entry = std::nullopt});
  EXPECT_LT(decoder.memory_usage(), 4u << 20);
  // A folder that really needs a large dictionary is refused past the limit.
  expect_error(
      [&] {
        folder_decoder big(file.fd.get(), "t.7z", single(coder(kMethodLzma2, props), 3'000'000'000), file.ranges,
                           {.memory_limit = 64 << 20, .available = std::nullopt, .entry = std::nullopt});
      },
      error_kind::unsupported);
}

TEST(FolderDecoder, UnsupportedMethodsAreNamedBeforeReading) {
  auto folder = single(coder({0x03, 0x04, 0x01}, {6, 0, 0, 0, 1}), 10);
  EXPECT_EQ(unsupported_method(folder), "PPMD");
  EXPECT_EQ(unsupported_method(single(coder({0x06, 0xF1, 0x07, 0x01}), 1)), "AES-256 (encrypted)");
  EXPECT_EQ(unsupported_method(single(coder({0x04, 0x02, 0x02}), 1)), "BZip2");
  EXPECT_EQ(unsupported_method(single(coder({0x04, 0x01, 0x08}), 1)), "Deflate");
  EXPECT_EQ(unsupported_method(single(coder({0x7F, 0x7E}), 1)), "method 7F7E");
  EXPECT_EQ(unsupported_method(single(coder(kMethodLzma2, {16}), 1)), std::nullopt);
  const auto error = expect_error([&] { decode_all(folder, {bytes(10)}); }, error_kind::unsupported);
  EXPECT_NE(std::string(error.what()).find("PPMD"), std::string::npos);
  EXPECT_EQ(error.error_number(), EOPNOTSUPP);
}

TEST(FolderDecoder, MalformedFoldersAreCorrupt) {
  const auto data = sample(100'000, 8);
  auto options = lzma_options();
  const lzma_filter lzma2{LZMA_FILTER_LZMA2, &options};
  const auto props = properties_of(lzma2);
  const auto packed = raw_encode({lzma2}, data);
  // Truncated, damaged, and lying about sizes.
  expect_error(
      [&] {
        decode_all(single(coder(kMethodLzma2, props), data.size()), {bytes(packed.begin(), packed.begin() + 500)});
      },
      error_kind::corrupt_archive);
  auto damaged = packed;
  for (std::size_t i = 100; i < damaged.size(); i += 97) damaged[i] ^= 0x55;
  expect_error([&] { decode_all(single(coder(kMethodLzma2, props), data.size()), {damaged}); },
               error_kind::corrupt_archive);
  expect_error([&] { decode_all(single(coder(kMethodLzma2, props), data.size() + 1), {packed}); },
               error_kind::corrupt_archive);
  expect_error([&] { decode_all(single(coder(kMethodLzma2, {41}), data.size()), {packed}); },
               error_kind::corrupt_archive);
  expect_error(
      [&] {
        decode_all(single(coder(kMethodLzma, {1, 2}), data.size()), {packed});
      },
      error_kind::corrupt_archive);
  // Graph errors: wrong stream counts, bind pairs and pack streams that do
  // not match the coders. (Three filters over a Copy pack stream are fine.)
  expect_error([&] { decode_all(single(coder(kMethodLzma2, props, 2), data.size()), {packed}); },
               error_kind::corrupt_archive);
  folder_graph cycle;
  cycle.coders = {coder({0x04}), coder({0x04}), coder({0x04})};
  cycle.bind_pairs = {{0, 1}, {1, 2}};
  cycle.packed_streams = {2};
  const auto three_sizes = [](const folder_graph& graph) { return folder_info(graph, {10, 10, 10}); };
  EXPECT_NO_THROW(decode_all(three_sizes(cycle), {bytes(10, 1)}));
  cycle.bind_pairs = {{0, 1}, {1, 1}};
  expect_error([&] { decode_all(three_sizes(cycle), {bytes(10, 1)}); }, error_kind::corrupt_archive);
  cycle.bind_pairs = {{0, 1}, {1, 2}, {2, 1}};
  cycle.packed_streams = {};
  expect_error([&] { decode_all(three_sizes(cycle), {}); }, error_kind::corrupt_archive);
  expect_error(
      [&] {
        decode_all(single(coder(kMethodCopy), 10), {bytes(10), bytes(10)});
      },
      error_kind::corrupt_archive);
  // A pack stream past the end of the file.
  pack_file file({bytes(10)});
  file.ranges[0].size = 1000;
  expect_error(
      [&] {
        folder_decoder decoder(file.fd.get(), "t.7z", single(coder(kMethodCopy), 1000), file.ranges);
        bytes out(1000);
        decoder.read(out);
      },
      error_kind::corrupt_archive);
}
