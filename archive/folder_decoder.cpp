#include "folder_decoder.hpp"

#include "archive_error.hpp"
#include "archive_limits.hpp"
#include "bcj2_source.hpp"
#include "byte_source.hpp"
#include "coder_methods.hpp"
#include "lzma_chain_source.hpp"
#include "riscv_filter.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace sevenzfs::archive {

namespace {

constexpr std::size_t kSkipBufferSize = 64 * 1024;

// What feeds a coder input: a pack stream or another coder's output.
struct stream_origin {
  bool pack = false;
  std::uint64_t index = 0;
};

// Turns a folder's coder graph into sources, starting at its main output.
// Every supported coder has one output, so coder c produces output c.
class graph_builder {
 public:
  graph_builder(int fd, const std::string& path, const folder_info& folder, std::span<const pack_stream_range> packs,
                std::uint64_t memory_limit)
      : fd_(fd), path_(path), folder_(folder), packs_(packs), memory_left_(memory_limit) {}

  source_ptr build() {
    validate();
    return output(folder_.main_output());
  }

 private:
  [[noreturn]] void corrupt(const std::string& what) const {
    throw archive_error(error_kind::corrupt_archive, path_, fmt::format("damaged folder: {}", what));
  }

  void validate() {
    const auto& coders = folder_.coders();
    if (coders.empty() || coders.size() > kMaxCoders) corrupt("bad coder count");
    if (auto name = unsupported_method(folder_)) {
      throw archive_error(error_kind::unsupported, path_, fmt::format("compression method {} is not supported", *name));
    }
    std::size_t inputs = 0;
    for (const auto& coder : coders) {
      methods_.push_back(method_of(coder.method_id));
      if (coder.out_streams != 1 || coder.in_streams != method_in_streams(methods_.back())) {
        corrupt(fmt::format("a {} coder with {} inputs and {} outputs", method_name(coder.method_id), coder.in_streams,
                            coder.out_streams));
      }
      first_input_.push_back(inputs);
      inputs += coder.in_streams;
    }
    const std::size_t outputs = coders.size();
    if (folder_.unpack_sizes.size() != outputs) corrupt("unpack sizes do not match the coders");
    if (folder_.bind_pairs().size() + 1 != outputs || folder_.packed_streams().size() != packs_.size() ||
        folder_.bind_pairs().size() + folder_.packed_streams().size() != inputs) {
      corrupt("streams do not match the coders");
    }
    input_source_.assign(inputs, std::nullopt);
    std::set<std::uint64_t> bound_outputs;
    for (const auto& pair : folder_.bind_pairs()) {
      if (pair.in_index >= inputs || pair.out_index >= outputs || input_source_[pair.in_index] ||
          !bound_outputs.insert(pair.out_index).second) {
        corrupt("bad bind pair");
      }
      input_source_[pair.in_index] = stream_origin{false, pair.out_index};
    }
    for (std::size_t p = 0; p < folder_.packed_streams().size(); ++p) {
      const auto index = folder_.packed_streams()[p];
      if (index >= inputs || input_source_[index]) corrupt("bad packed stream index");
      input_source_[index] = stream_origin{true, p};
    }
    visited_.assign(outputs, false);
  }

  source_ptr input(std::size_t coder, std::size_t k) {
    const auto& from = *input_source_[first_input_[coder] + k];
    if (from.pack) return make_pack_stream_source(fd_, path_, packs_[from.index].offset, packs_[from.index].size);
    return output(static_cast<std::size_t>(from.index));
  }

  // The coder feeding input 0 of `coder`, if another coder does.
  std::optional<std::size_t> producer_of(std::size_t coder) const {
    const auto& from = *input_source_[first_input_[coder]];
    if (from.pack) return std::nullopt;
    return static_cast<std::size_t>(from.index);
  }

  void visit(std::size_t coder) {
    if (visited_[coder]) corrupt("the coders form a cycle");
    visited_[coder] = true;
  }

  source_ptr output(std::size_t coder) {
    visit(coder);
    const auto method = methods_[coder];
    const auto size = folder_.unpack_sizes[coder];
    switch (method) {
      case coder_method::copy: return make_copy_source(input(coder, 0), size);
      case coder_method::bcj2: {
        std::array<source_ptr, 4> inputs;
        for (std::size_t k = 0; k < inputs.size(); ++k) inputs[k] = input(coder, k);
        return make_bcj2_source(std::move(inputs), size, path_);
      }
      case coder_method::bcj_riscv:
        return make_riscv_source(input(coder, 0), folder_.coders()[coder].properties, size, path_);
      default: return lzma_chain(coder);
    }
  }

  // Filters over filters over LZMA/LZMA2 run as one liblzma chain, up to its
  // limit of four (three when the bottom is a filter that needs the stored
  // LZMA2 framing).
  source_ptr lzma_chain(std::size_t top) {
    std::vector<chain_coder> chain;
    std::size_t coder = top;
    for (;;) {
      const auto method = methods_[coder];
      chain.push_back({method, folder_.coders()[coder].properties, folder_.unpack_sizes[coder]});
      if (is_lzma_method(method)) break;
      const auto below = producer_of(coder);
      if (!below || !is_liblzma_method(methods_[*below])) break;
      const bool fits = chain.size() < 3 || (chain.size() == 3 && is_lzma_method(methods_[*below]));
      if (!fits) break;
      coder = *below;
      visit(coder);
    }
    return make_lzma_chain_source(chain, input(coder, 0), memory_left_, path_);
  }

  int fd_;
  const std::string& path_;
  const folder_info& folder_;
  std::span<const pack_stream_range> packs_;
  std::uint64_t memory_left_;
  std::vector<coder_method> methods_;
  std::vector<std::size_t> first_input_;
  std::vector<std::optional<stream_origin>> input_source_;
  std::vector<bool> visited_;
};

// The decoder of a folder of one LZMA2 stream from a chunk that resets the
// dictionary.
source_ptr lzma2_source_from(int fd, const std::string& path, const folder_info& folder,
                             std::span<const pack_stream_range> packs, const lzma2_reset& entry,
                             std::uint64_t memory_limit) {
  if (!is_one_lzma2_stream(folder) || packs.size() != 1) {
    throw archive_error(error_kind::invalid_input, path, "only a folder of one LZMA2 stream has entry points");
  }
  if (entry.packed >= packs.front().size || entry.unpacked > folder.unpack_sizes.front()) {
    throw archive_error(error_kind::corrupt_archive, path, "damaged folder: an entry point lies past its data");
  }
  // The dictionary is capped at what follows the entry, which is all a
  // match after a reset can reach.
  const chain_coder coder{coder_method::lzma2, folder.coders().front().properties,
                          folder.unpack_sizes.front() - entry.unpacked};
  auto input =
      make_pack_stream_source(fd, path, packs.front().offset + entry.packed, packs.front().size - entry.packed);
  return make_lzma_chain_source(std::span(&coder, 1), std::move(input), memory_limit, path);
}

}  // namespace

folder_decoder::folder_decoder(int fd, std::string path, const folder_info& folder,
                               std::span<const pack_stream_range> packs, const folder_decoder_options& options)
    : path_(std::move(path)) {
  size_ = folder.unpack_size();
  if (options.available) size_ = std::min(size_, *options.available);
  if (options.entry) {
    output_ = lzma2_source_from(fd, path_, folder, packs, *options.entry, options.memory_limit);
    position_ = options.entry->unpacked;
    if (position_ > size_) {
      throw archive_error(error_kind::invalid_input, path_, "an entry point lies past the data available");
    }
  } else {
    output_ = graph_builder(fd, path_, folder, packs, options.memory_limit).build();
  }
}

folder_decoder::~folder_decoder() = default;
folder_decoder::folder_decoder(folder_decoder&&) noexcept = default;
folder_decoder& folder_decoder::operator=(folder_decoder&&) noexcept = default;

std::size_t folder_decoder::read(std::span<std::uint8_t> out) {
  const auto wanted = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size_ - position_));
  const std::size_t got = output_->read(out.first(wanted));
  if (got != wanted) {
    throw archive_error(error_kind::corrupt_archive, path_,
                        fmt::format("damaged packed data: a folder of {} bytes ends after {}", size_, position_ + got));
  }
  position_ += got;
  return got;
}

void folder_decoder::skip(std::uint64_t count) {
  std::vector<std::uint8_t> scratch(static_cast<std::size_t>(std::min<std::uint64_t>(count, kSkipBufferSize)));
  count = std::min(count, size_ - position_);
  while (count > 0) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(count, scratch.size()));
    read(std::span(scratch).first(n));
    count -= n;
  }
}

std::uint64_t folder_decoder::memory_usage() const noexcept {
  return sizeof(*this) + (output_ ? output_->memory_usage() : 0);
}

}  // namespace sevenzfs::archive
