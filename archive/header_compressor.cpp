#include "header_compressor.hpp"

#include "lzma2_encoder.hpp"
#include "lzma_settings.hpp"

#include <algorithm>
#include <exception>
#include <thread>

namespace sevenzfs::archive {

std::uint64_t compressed_header::size() const noexcept {
  std::uint64_t total = 0;
  for (const auto& part : parts) total += part.size();
  return total;
}

unsigned header_parts_for(std::uint64_t plain_bytes, unsigned threads) {
  const std::uint64_t dictionary = lzma2_header_options(plain_bytes).dict_size;
  const std::uint64_t most = plain_bytes / (kMinHeaderPartDictionaries * dictionary);
  return static_cast<unsigned>(std::clamp<std::uint64_t>(most, 1, std::max(threads, 1u)));
}

namespace {

std::vector<std::uint8_t> compress_part(std::span<const std::uint8_t> plain, std::size_t begin, std::size_t end,
                                        const lzma_options_lzma& options) {
  std::vector<std::uint8_t> packed;
  // Never grown by copying (for a large header, a mapped block whose
  // unfilled pages are never touched).
  packed.reserve(static_cast<std::size_t>(lzma2_packed_bound(end - begin)));
  const span_sink collect = [&](std::span<const std::uint8_t> bytes) {
    packed.insert(packed.end(), bytes.begin(), bytes.end());
  };
  lzma2_encoder encoder;
  encoder.start(options, plain.first(begin));
  encoder.write(plain.subspan(begin, end - begin), collect);
  encoder.finish(collect, end == plain.size());
  return packed;
}

}  // namespace

compressed_header compress_header(std::span<const std::uint8_t> plain, unsigned threads, header_effort effort) {
  const auto options = lzma2_header_options(plain.size(), effort);
  const unsigned parts = header_parts_for(plain.size(), threads);
  std::vector<std::vector<std::uint8_t>> packed(parts);
  std::vector<std::exception_ptr> failures(parts);
  const auto bound = [&](unsigned part) { return plain.size() * part / parts; };
  const auto compress = [&](unsigned part) {
    try {
      packed[part] = compress_part(plain, bound(part), bound(part + 1), options);
    } catch (...) {
      failures[part] = std::current_exception();
    }
  };
  {
    std::vector<std::jthread> helpers;
    helpers.reserve(parts - 1);
    for (unsigned part = 1; part < parts; ++part) helpers.emplace_back(compress, part);
    compress(0);
  }
  for (const auto& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
  return {std::move(packed), lzma2_property_byte(options)};
}

}  // namespace sevenzfs::archive
