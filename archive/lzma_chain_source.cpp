#include "lzma_chain_source.hpp"

#include "archive_error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>

namespace sevenzfs::archive {

namespace {

constexpr std::size_t kInputBufferSize = 64 * 1024;
constexpr std::size_t kStoredChunkMax = 64 * 1024;  // LZMA2 uncompressed chunks hold 1..65536 bytes
constexpr std::uint32_t kMinDictionary = 4096;

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  throw archive_error(error_kind::corrupt_archive, path, what);
}

lzma_vli filter_id(coder_method method) noexcept {
  switch (method) {
    case coder_method::lzma: return LZMA_FILTER_LZMA1EXT;
    case coder_method::lzma2: return LZMA_FILTER_LZMA2;
    case coder_method::bcj_x86: return LZMA_FILTER_X86;
    case coder_method::bcj_ppc: return LZMA_FILTER_POWERPC;
    case coder_method::bcj_ia64: return LZMA_FILTER_IA64;
    case coder_method::bcj_arm: return LZMA_FILTER_ARM;
    case coder_method::bcj_armt: return LZMA_FILTER_ARMTHUMB;
    case coder_method::bcj_sparc: return LZMA_FILTER_SPARC;
    case coder_method::bcj_arm64: return LZMA_FILTER_ARM64;
    case coder_method::delta: return LZMA_FILTER_DELTA;
    default: return LZMA_VLI_UNKNOWN;
  }
}

// A filter with no LZMA below it (7zz -m0=BCJ, -m0=Delta:4) still runs in
// liblzma: its input is framed as LZMA2 uncompressed chunks and ended with
// the LZMA2 end marker, which also makes the filter flush its last bytes.
class stored_lzma2_framing final : public byte_source {
 public:
  explicit stored_lzma2_framing(source_ptr input) : input_(std::move(input)), chunk_(3 + kStoredChunkMax) {}

  std::size_t read(std::span<std::uint8_t> out) override {
    std::size_t done = 0;
    while (done < out.size()) {
      if (position_ == end_) {
        if (finished_) break;
        refill();
      }
      const std::size_t n = std::min(out.size() - done, end_ - position_);
      std::copy_n(chunk_.begin() + static_cast<std::ptrdiff_t>(position_), n,
                  out.begin() + static_cast<std::ptrdiff_t>(done));
      position_ += n;
      done += n;
    }
    return done;
  }

  std::uint64_t memory_usage() const noexcept override { return chunk_.size() + input_->memory_usage(); }

 private:
  void refill() {
    const std::size_t got = input_->read(std::span(chunk_).subspan(3));
    position_ = 0;
    if (got == 0) {
      chunk_[0] = 0x00;  // end of the LZMA2 stream
      end_ = 1;
      finished_ = true;
      return;
    }
    chunk_[0] = first_ ? 0x01 : 0x02;  // uncompressed chunk, with a dictionary reset the first time
    chunk_[1] = static_cast<std::uint8_t>((got - 1) >> 8);
    chunk_[2] = static_cast<std::uint8_t>(got - 1);
    end_ = 3 + got;
    first_ = false;
  }

  source_ptr input_;
  std::vector<std::uint8_t> chunk_;
  std::size_t position_ = 0;
  std::size_t end_ = 0;
  bool first_ = true;
  bool finished_ = false;
};

class lzma_chain_source final : public byte_source {
 public:
  lzma_chain_source(std::span<const lzma_filter> filters, source_ptr input, std::uint64_t output_size,
                    std::uint64_t memory, std::string path)
      : input_(std::move(input)),
        buffer_(kInputBufferSize),
        remaining_(output_size),
        memory_(memory),
        path_(std::move(path)) {
    const lzma_ret ret = lzma_raw_decoder(&stream_, filters.data());
    if (ret != LZMA_OK) {
      lzma_end(&stream_);
      if (ret == LZMA_MEM_ERROR)
        throw archive_error(error_kind::io, path_, "cannot start a decoder: out of memory", ENOMEM);
      corrupt(path_, fmt::format("cannot start a decoder: {}", describe_lzma(ret)));
    }
  }
  ~lzma_chain_source() override { lzma_end(&stream_); }
  lzma_chain_source(const lzma_chain_source&) = delete;
  lzma_chain_source& operator=(const lzma_chain_source&) = delete;

  std::size_t read(std::span<std::uint8_t> out) override {
    out = out.first(static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), remaining_)));
    stream_.next_out = out.data();
    stream_.avail_out = out.size();
    while (stream_.avail_out > 0 && !ended_) {
      if (stream_.avail_in == 0 && !input_ended_) {
        const std::size_t got = input_->read(buffer_);
        input_ended_ = got < buffer_.size();
        stream_.next_in = buffer_.data();
        stream_.avail_in = got;
      }
      const lzma_ret ret = lzma_code(&stream_, input_ended_ ? LZMA_FINISH : LZMA_RUN);
      if (ret == LZMA_STREAM_END) {
        ended_ = true;
      } else if (ret == LZMA_BUF_ERROR) {
        ended_ = true;  // truncated: the short read tells the caller
      } else if (ret == LZMA_MEM_ERROR) {
        throw archive_error(error_kind::io, path_, "decoding: out of memory", ENOMEM);
      } else if (ret != LZMA_OK) {
        corrupt(path_, fmt::format("damaged packed data: {}", describe_lzma(ret)));
      }
    }
    const std::size_t done = out.size() - stream_.avail_out;
    remaining_ -= done;
    return done;
  }

  std::uint64_t memory_usage() const noexcept override { return memory_ + buffer_.size() + input_->memory_usage(); }

 private:
  source_ptr input_;
  std::vector<std::uint8_t> buffer_;
  lzma_stream stream_ = LZMA_STREAM_INIT;
  std::uint64_t remaining_;
  std::uint64_t memory_;
  std::string path_;
  bool input_ended_ = false;
  bool ended_ = false;
};

// Owns the option structs lzma_properties_decode allocates.
struct decoded_filters {
  std::array<lzma_filter, LZMA_FILTERS_MAX + 1> filters{};
  std::size_t count = 0;

  decoded_filters() {
    for (auto& filter : filters) filter = {LZMA_VLI_UNKNOWN, nullptr};
  }
  ~decoded_filters() {
    for (auto& filter : filters) std::free(filter.options);
  }
  decoded_filters(const decoded_filters&) = delete;
  decoded_filters& operator=(const decoded_filters&) = delete;

  void add(coder_method method, std::span<const std::uint8_t> properties, std::uint64_t unpack_size,
           const std::string& path) {
    lzma_filter& filter = filters[count];
    filter.id = filter_id(method);
    if (lzma_properties_decode(&filter, nullptr, properties.data(), properties.size()) != LZMA_OK) {
      filter.options = nullptr;
      corrupt(path, fmt::format("bad {} coder properties", method == coder_method::lzma ? "LZMA" : "filter"));
    }
    ++count;
    if (!is_lzma_method(method)) return;
    auto* options = static_cast<lzma_options_lzma*>(filter.options);
    // No match can reach further back than the output so far, so a
    // dictionary larger than the output is never needed: claimed sizes up to
    // 4 GiB cost only what the data is.
    const std::uint64_t needed = std::max<std::uint64_t>(unpack_size, kMinDictionary);
    if (options->dict_size > needed) options->dict_size = static_cast<std::uint32_t>(needed);
    if (method == coder_method::lzma) {
      // 7z knows LZMA1 sizes from the header; the end marker is optional.
      options->ext_flags = LZMA_LZMA1EXT_ALLOW_EOPM;
      options->ext_size_low = static_cast<std::uint32_t>(unpack_size);
      options->ext_size_high = static_cast<std::uint32_t>(unpack_size >> 32);
    }
  }

  void add_stored_lzma2() {
    auto* options = static_cast<lzma_options_lzma*>(std::calloc(1, sizeof(lzma_options_lzma)));
    if (options == nullptr) throw archive_error(error_kind::io, "", "out of memory", ENOMEM);
    options->dict_size = kMinDictionary;
    filters[count++] = {LZMA_FILTER_LZMA2, options};
  }
};

}  // namespace

bool is_liblzma_method(coder_method method) noexcept { return filter_id(method) != LZMA_VLI_UNKNOWN; }

bool is_lzma_method(coder_method method) noexcept {
  return method == coder_method::lzma || method == coder_method::lzma2;
}

std::string describe_lzma(lzma_ret ret) {
  switch (ret) {
    case LZMA_MEM_ERROR: return "out of memory";
    case LZMA_MEMLIMIT_ERROR: return "memory limit reached";
    case LZMA_OPTIONS_ERROR: return "unsupported options";
    case LZMA_FORMAT_ERROR: return "format error";
    case LZMA_DATA_ERROR: return "data error";
    case LZMA_BUF_ERROR: return "the data ends early";
    case LZMA_PROG_ERROR: return "programming error";
    default: return fmt::format("error {}", static_cast<int>(ret));
  }
}

source_ptr make_lzma_chain_source(std::span<const chain_coder> chain, source_ptr input, std::uint64_t& memory_budget,
                                  const std::string& path) {
  const bool stored = chain.empty() || !is_lzma_method(chain.back().method);
  if (chain.empty() || chain.size() + (stored ? 1 : 0) > LZMA_FILTERS_MAX) {
    throw archive_error(error_kind::unsupported, path, "coder chain too long");
  }
  decoded_filters decoded;
  for (const auto& coder : chain) decoded.add(coder.method, coder.properties, coder.unpack_size, path);
  if (stored) {
    decoded.add_stored_lzma2();
    input = std::make_unique<stored_lzma2_framing>(std::move(input));
  }
  const std::uint64_t memory = lzma_raw_decoder_memusage(decoded.filters.data());
  if (memory == UINT64_MAX) corrupt(path, "invalid coder chain");
  if (memory > memory_budget) {
    throw archive_error(
        error_kind::unsupported, path,
        fmt::format("decoding needs {} MiB more than the {} MiB left of the limit", memory >> 20, memory_budget >> 20));
  }
  memory_budget -= memory;
  return std::make_unique<lzma_chain_source>(std::span(decoded.filters).first(decoded.count + 1), std::move(input),
                                             chain.front().unpack_size, memory, path);
}

}  // namespace sevenzfs::archive
