#include "lzma2_encoder.hpp"

#include "archive_error.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace sevenzfs::archive {

namespace {

constexpr std::size_t kOutputBufferSize = 256 * 1024;

std::string describe(lzma_ret ret) {
  switch (ret) {
    case LZMA_MEM_ERROR: return "out of memory";
    case LZMA_MEMLIMIT_ERROR: return "memory limit reached";
    case LZMA_OPTIONS_ERROR: return "unsupported options";
    case LZMA_DATA_ERROR: return "data error";
    case LZMA_BUF_ERROR: return "no progress possible";
    case LZMA_PROG_ERROR: return "programming error";
    default: return fmt::format("error {}", static_cast<int>(ret));
  }
}

}  // namespace

lzma2_encoder::lzma2_encoder() : buffer_(kOutputBufferSize) {}

lzma2_encoder::~lzma2_encoder() { lzma_end(&stream_); }

void lzma2_encoder::release() noexcept {
  lzma_end(&stream_);
  stream_ = LZMA_STREAM_INIT;
  buffered_ = 0;
  holds_memory_ = false;
}

void lzma2_encoder::start(const lzma_options_lzma& options, std::span<const std::uint8_t> preset_dictionary) {
  lzma_options_lzma primed = options;
  preset_dictionary = preset_dictionary.last(std::min<std::size_t>(preset_dictionary.size(), options.dict_size));
  primed.preset_dict = preset_dictionary.empty() ? nullptr : preset_dictionary.data();
  primed.preset_dict_size = static_cast<std::uint32_t>(preset_dictionary.size());
  lzma_filter filters[2] = {{LZMA_FILTER_LZMA2, &primed}, {LZMA_VLI_UNKNOWN, nullptr}};
  const lzma_ret ret = lzma_raw_encoder(&stream_, filters);
  holds_memory_ = true;  // also after a failure: what it allocated stays until release
  if (ret != LZMA_OK) {
    throw archive_error(error_kind::compression, "", fmt::format("cannot start LZMA2 encoder: {}", describe(ret)));
  }
  buffered_ = 0;
}

void lzma2_encoder::write(std::span<const std::uint8_t> input, const span_sink& output) {
  stream_.next_in = input.data();
  stream_.avail_in = input.size();
  while (stream_.avail_in > 0) run(LZMA_RUN, output);
}

void lzma2_encoder::flush(const span_sink& output) {
  stream_.next_in = nullptr;
  stream_.avail_in = 0;
  while (!run(LZMA_SYNC_FLUSH, output)) {
  }
  if (buffered_ > 0) output(std::span(buffer_.data(), buffered_));
  buffered_ = 0;
}

void lzma2_encoder::finish(const span_sink& output, bool keep_end_marker) {
  stream_.next_in = nullptr;
  stream_.avail_in = 0;
  while (!run(LZMA_FINISH, output)) {
  }
  // The stream ended: the last buffered byte is LZMA2's end marker.
  if (buffered_ == 0 || buffer_[buffered_ - 1] != kLzma2EndMarker) {
    throw archive_error(error_kind::compression, "", "LZMA2 stream does not end with an end marker");
  }
  const std::size_t keep = keep_end_marker ? buffered_ : buffered_ - 1;
  if (keep > 0) output(std::span(buffer_.data(), keep));
  buffered_ = 0;
}

// True once `action` (a flush or the finish) is complete.
bool lzma2_encoder::run(lzma_action action, const span_sink& output) {
  if (buffered_ == buffer_.size()) flush_all_but_last_byte(output);
  stream_.next_out = buffer_.data() + buffered_;
  stream_.avail_out = buffer_.size() - buffered_;
  const lzma_ret ret = lzma_code(&stream_, action);
  buffered_ = buffer_.size() - stream_.avail_out;
  if (ret == LZMA_STREAM_END) return true;
  if (ret != LZMA_OK) {
    throw archive_error(error_kind::compression, "", fmt::format("LZMA2 compression failed: {}", describe(ret)));
  }
  return false;
}

// Holding back one byte means the end marker is always still in the buffer
// when the stream finishes, so it can be dropped for a non-final part.
void lzma2_encoder::flush_all_but_last_byte(const span_sink& output) {
  output(std::span(buffer_.data(), buffered_ - 1));
  buffer_[0] = buffer_[buffered_ - 1];
  buffered_ = 1;
}

}  // namespace sevenzfs::archive
