#include "archive/lzma2_chunks.hpp"

namespace sevenzfs::test {

lzma2_chunks read_lzma2_chunks(std::span<const std::uint8_t> stream) {
  lzma2_chunks result;
  std::size_t at = 0;
  while (at < stream.size()) {
    const std::uint8_t control = stream[at];
    if (control == 0x00) {
      ++result.end_markers;
      result.ends_at_end_marker = at + 1 == stream.size() && result.end_markers == 1;
      ++at;
      continue;
    }
    std::size_t header = 0;
    std::size_t payload = 0;
    if (control == 0x01 || control == 0x02) {  // uncompressed, with or without dictionary reset
      if (at + 3 > stream.size()) break;
      header = 3;
      payload = ((std::size_t{stream[at + 1]} << 8) | stream[at + 2]) + 1;
      if (control == 0x01) ++result.dictionary_resets;
      ++result.uncompressed_chunks;
    } else if (control >= 0x80) {  // LZMA; bits 5-6: 0 nothing, 1 state, 2 + props, 3 + dictionary reset
      const unsigned reset = (control >> 5) & 3;
      header = reset >= 2 ? 6 : 5;
      if (at + header > stream.size()) break;
      payload = ((std::size_t{stream[at + 3]} << 8) | stream[at + 4]) + 1;
      if (reset == 3) ++result.dictionary_resets;
      if (reset >= 2) ++result.property_chunks;
    } else {
      result.error = "invalid control byte " + std::to_string(control) + " at " + std::to_string(at);
      return result;
    }
    ++result.chunks;
    at += header + payload;
  }
  if (at != stream.size()) result.error = "truncated chunk";
  return result;
}

std::vector<std::uint8_t> decode_lzma2(std::span<const std::uint8_t> stream, std::uint32_t dict_size,
                                       std::size_t expected_size, lzma_ret* status) {
  lzma_options_lzma options{};
  lzma_lzma_preset(&options, 6);
  options.dict_size = dict_size;
  lzma_filter filters[2] = {{LZMA_FILTER_LZMA2, &options}, {LZMA_VLI_UNKNOWN, nullptr}};
  lzma_stream decoder = LZMA_STREAM_INIT;
  std::vector<std::uint8_t> out(expected_size + 4096);
  *status = lzma_raw_decoder(&decoder, filters);
  if (*status != LZMA_OK) return {};
  decoder.next_in = stream.data();
  decoder.avail_in = stream.size();
  decoder.next_out = out.data();
  decoder.avail_out = out.size();
  *status = lzma_code(&decoder, LZMA_FINISH);
  out.resize(out.size() - decoder.avail_out);
  lzma_end(&decoder);
  return out;
}

}  // namespace sevenzfs::test
