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
#include "entry.hpp"

#include <lzma.h>

#include <cstdint>
#include <span>
#include <vector>

namespace sevenzfs::archive {

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
  void finish(const span_sink& output, bool keep_end_marker);

 private:
  void run(lzma_action action, const span_sink& output);
  void flush_all_but_last_byte(const span_sink& output);

  lzma_stream stream_ = LZMA_STREAM_INIT;
  std::vector<std::uint8_t> buffer_;
  std::size_t buffered_ = 0;
  bool started_ = false;
};

}  // namespace sevenzfs::archive
