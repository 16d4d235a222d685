// libFuzzer target for the folder decoder: a small folder synthesized from
// the input (its shape, methods, properties, sizes and packed bytes), decoded
// to the end, and from the last three dictionary resets (entry points) the
// chunk headers of its first pack stream name. Anything but a clean result or an archive_error is a bug: a
// crash, a hang, a leak, or output other than the size promised.
//
// Input: shape, method 0, method 1, property count, properties, unpack size
// (3 bytes LE), then for BCJ2 shapes three stream lengths (2 bytes LE
// each), then the packed bytes.
#include "archive/archive_error.hpp"
#include "archive/coder_methods.hpp"
#include "archive/file_io.hpp"
#include "archive/folder_decoder.hpp"
#include "archive/lzma2_chunks.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

using namespace sevenzfs::archive;

namespace {

const std::array<coder_bytes, 14> kMethods{{{0x00},
                                           {0x03, 0x01, 0x01},
                                           {0x21},
                                           {0x03, 0x03, 0x01, 0x03},
                                           {0x05},
                                           {0x06},
                                           {0x07},
                                           {0x08},
                                           {0x09},
                                           {0x0A},
                                           {0x0B},
                                           {0x03},
                                           {0x03, 0x03, 0x01, 0x1B},
                                           {0x03, 0x04, 0x01}}};

class input {
 public:
  explicit input(std::span<const std::uint8_t> data) : data_(data) {}
  std::uint8_t byte() { return data_.empty() ? 0 : take(1)[0]; }
  std::uint32_t number(int bytes) {
    std::uint32_t value = 0;
    for (int i = 0; i < bytes; ++i) value |= std::uint32_t{byte()} << (8 * i);
    return value;
  }
  std::span<const std::uint8_t> take(std::size_t n) {
    n = std::min(n, data_.size());
    const auto taken = data_.first(n);
    data_ = data_.subspan(n);
    return taken;
  }
  std::span<const std::uint8_t> rest() { return take(data_.size()); }

 private:
  std::span<const std::uint8_t> data_;
};

coder_info make_coder(std::uint8_t method, std::vector<std::uint8_t> properties) {
  const auto& id = kMethods[method % kMethods.size()];
  return {id, coder_bytes(properties.begin(), properties.end()), method_in_streams(method_of(id)), 1};
}

// The packed bytes live in a memfd: the decoder reads pack streams from a descriptor.
int pack_file() {
  static const unique_fd fd(::memfd_create("folder_decoder_fuzz", MFD_CLOEXEC));
  if (!fd) std::abort();
  return fd.get();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  input in({data, size});
  const std::uint8_t shape = in.byte() % 4;
  const std::uint8_t first = in.byte();
  const std::uint8_t second = in.byte();
  const auto properties = in.take(in.byte() % 8);
  const std::uint64_t unpack_size = in.number(3);
  folder_graph graph;
  switch (shape) {
    case 0:  // one coder over its pack streams
      graph.coders = {make_coder(first, {properties.begin(), properties.end()})};
      break;
    case 1:  // a coder over another, as BCJ over LZMA2
      graph.coders = {make_coder(first, {}), make_coder(second, {properties.begin(), properties.end()})};
      break;
    case 2:  // BCJ2 over four pack streams
      graph.coders = {make_coder(12, {})};
      break;
    default:  // BCJ2 whose main stream comes from a second coder, as 7zz writes it
      graph.coders = {make_coder(12, {}), make_coder(second, {properties.begin(), properties.end()})};
      break;
  }
  if (graph.coders.size() == 2) graph.bind_pairs = {{0, 1}};  // coder 0's first input <- coder 1
  graph.packed_streams.clear();
  for (std::uint64_t i = graph.coders.size() == 2 ? 1 : 0; i < graph.total_in_streams(); ++i) {
    graph.packed_streams.push_back(i);
  }
  const std::size_t packs = graph.packed_streams.size();
  std::vector<std::size_t> pack_lengths;
  for (std::size_t p = 0; p + 1 < packs; ++p) pack_lengths.push_back(in.number(2));
  const folder_info folder(graph, small_vector<std::uint64_t, 1>(graph.coders.size(), unpack_size));
  const auto packed = in.rest();
  const int fd = pack_file();
  if (::ftruncate(fd, 0) != 0) std::abort();
  write_at(fd, 0, packed, "fuzz");
  std::vector<pack_stream_range> ranges;
  std::uint64_t offset = 0;
  for (std::size_t p = 0; p < packs; ++p) {
    const std::uint64_t length = p < pack_lengths.size()
                                     ? std::min<std::uint64_t>(pack_lengths[p], packed.size() - offset)
                                     : packed.size() - offset;
    ranges.push_back({offset, length});
    offset += length;
  }
  const auto decode_from = [&](std::optional<lzma2_reset> entry) {
    try {
      folder_decoder decoder(fd, "fuzz", folder, ranges,
                             {.memory_limit = 64 << 20, .available = std::nullopt, .entry = entry});
      std::vector<std::uint8_t> out(4096);
      std::uint64_t total = decoder.position();
      while (const std::size_t n = decoder.read(out)) total += n;
      if (total != decoder.size()) std::abort();
    } catch (const archive_error&) {
      // Refusing bad input is the expected outcome.
    }
  };
  decode_from(std::nullopt);
  // Where the first pack stream's chunk headers say the dictionary resets
  // (the reader's entry points); other folder shapes refuse an entry.
  if (const auto chunks = walk_lzma2_chunks(fd, {ranges.front().offset, ranges.front().size})) {
    const std::size_t count = chunks->resets.size();
    for (std::size_t r = count > 3 ? count - 3 : 0; r < count; ++r) decode_from(chunks->resets[r]);
  }
  return 0;
}
