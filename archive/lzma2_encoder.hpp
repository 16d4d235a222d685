#pragma once
// One raw LZMA2 stream (no .xz container), as 7z folders hold them. Output is
// handed out in chunks as it is produced, so a folder of any size streams
// straight to disk. The encoder can be restarted with new options; liblzma
// then reuses its allocations, which matters for one folder per small file.
//
// A folder may be built from several parts compressed on different threads:
// only the last part keeps LZMA2's 0x00 end marker (`finish(..., false)` drops
// it). A part started without a preset dictionary resets the dictionary; one
// started with the input that precedes it as preset dictionary does not, so its
// matches may reach back into that input, which a decoder of the whole stream
// holds at that point: the parts then compress as well as one stream would.
// Cheaper still, one encoder may compress consecutive parts of a folder as
// one stream: `flush` ends a part with every byte of its input out and the
// dictionary kept, and the next part is written on (no start, no priming).
#include "entry.hpp"

#include <lzma.h>

#include <cstdint>
#include <span>
#include <vector>

namespace sevenzfs::archive {

// The byte that ends an LZMA2 stream.
inline constexpr std::uint8_t kLzma2EndMarker = 0x00;

// LZMA2 stores data that does not shrink in uncompressed chunks of at most
// 64 KiB with a 3-byte header: the packed bytes of `input_bytes` are at most
// this.
inline std::uint64_t lzma2_packed_bound(std::uint64_t input_bytes) {
  return input_bytes + input_bytes / 16384 + 4096;
}

class lzma2_encoder {
 public:
  lzma2_encoder();
  ~lzma2_encoder();
  lzma2_encoder(const lzma2_encoder&) = delete;
  lzma2_encoder& operator=(const lzma2_encoder&) = delete;

  // `preset_dictionary`: the bytes the stream continues (only its last
  // options.dict_size bytes matter); liblzma copies it, so it need not outlive
  // the call. Priming costs the match finder one pass over those bytes.
  void start(const lzma_options_lzma& options, std::span<const std::uint8_t> preset_dictionary = {});
  void write(std::span<const std::uint8_t> input, const span_sink& output);
  // Outputs everything written so far (LZMA2 ends its chunk); the stream
  // goes on with the next write.
  void flush(const span_sink& output);
  void finish(const span_sink& output, bool keep_end_marker);
  // Gives liblzma's memory back (the match finder's arrays, about eleven
  // dictionaries at level 5); the next start allocates it again.
  void release() noexcept;
  // Started since the last release (liblzma keeps its memory after finish).
  bool holds_memory() const noexcept { return holds_memory_; }

 private:
  bool run(lzma_action action, const span_sink& output);
  void flush_all_but_last_byte(const span_sink& output);

  lzma_stream stream_ = LZMA_STREAM_INIT;
  std::vector<std::uint8_t> buffer_;
  std::size_t buffered_ = 0;
  bool holds_memory_ = false;
};

}  // namespace sevenzfs::archive
