#pragma once
// One raw LZMA2 stream (no .xz container), as 7z folders hold them. Output is
// handed out in chunks as it is produced, so a folder of any size streams
// straight to disk. The encoder can be restarted with new options; liblzma
// then reuses its allocations, which matters for one folder per small file.
//
// A folder may be built from several independently compressed parts (for
// parallel compression): every part starts with a dictionary reset, and only
// the last one keeps LZMA2's 0x00 end marker (`finish(..., false)` drops it).
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

  void start(const lzma_options_lzma& options);
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
