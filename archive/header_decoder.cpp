#include "header_decoder.hpp"

#include "archive_error.hpp"
#include "archive_limits.hpp"
#include "file_io.hpp"

#include <fmt/format.h>
#include <lzma.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace sevenzfs::archive {

namespace {

constexpr std::size_t kInputPiece = std::size_t{64} << 10;
constexpr std::size_t kFirstOutput = std::size_t{64} << 10;
const coder_bytes kMethodAes{0x06, 0xF1, 0x07, 0x01};
// More than LZMA or LZMA2 can unpack from one packed byte: at best a
// repeated 273-byte match costs a fraction of a bit.
constexpr std::uint64_t kMaxUnpackRatio = std::uint64_t{1} << 14;

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  throw archive_error(error_kind::corrupt_archive, path, "damaged archive: " + what);
}

[[noreturn]] void too_large(const std::string& path) {
  throw archive_error(error_kind::unsupported, path,
                      fmt::format("the header unpacks to more than {} MiB", kMaxHeaderBytes >> 20));
}

// An lzma_stream that ends itself.
class raw_decoder {
 public:
  raw_decoder(const lzma_filter* filters, const std::string& path) {
    if (lzma_raw_decoder(&stream_, filters) != LZMA_OK) corrupt(path, "cannot start the header decoder");
  }
  ~raw_decoder() { lzma_end(&stream_); }
  raw_decoder(const raw_decoder&) = delete;
  raw_decoder& operator=(const raw_decoder&) = delete;
  lzma_stream& stream() noexcept { return stream_; }

 private:
  lzma_stream stream_ = LZMA_STREAM_INIT;
};

struct free_options {
  void operator()(void* options) const noexcept { std::free(options); }  // allocated by liblzma with malloc
};

std::vector<std::uint8_t> stored_header(int fd, std::uint64_t offset, std::uint64_t pack_size, std::uint64_t claimed,
                                        const std::string& path) {
  if (pack_size != claimed) corrupt(path, "a stored header whose packed and unpacked sizes differ");
  if (claimed > kMaxHeaderBytes) too_large(path);
  std::vector<std::uint8_t> header(static_cast<std::size_t>(claimed));
  if (read_at(fd, offset, header, path) != header.size()) corrupt(path, "the archive is truncated");
  return header;
}

}  // namespace

std::vector<std::uint8_t> decode_packed_header(int fd, std::uint64_t offset, std::uint64_t pack_size,
                                               const folder_info& folder, const std::string& path) {
  const bool encrypted = std::ranges::any_of(folder.coders(), [](const auto& c) { return c.method_id == kMethodAes; });
  if (encrypted) throw archive_error(error_kind::unsupported, path, "the archive's header is encrypted");
  if (folder.coders().size() != 1)
    throw archive_error(error_kind::unsupported, path, "header compressed with a coder chain");
  const auto& coder = folder.coders().front();
  const std::uint64_t claimed = folder.unpack_size();
  if (coder.method_id == kMethodCopy) return stored_header(fd, offset, pack_size, claimed, path);

  lzma_filter filters[2] = {{LZMA_VLI_UNKNOWN, nullptr}, {LZMA_VLI_UNKNOWN, nullptr}};
  if (coder.method_id == kMethodLzma2)
    filters[0].id = LZMA_FILTER_LZMA2;
  else if (coder.method_id == kMethodLzma)
    filters[0].id = LZMA_FILTER_LZMA1;
  else
    throw archive_error(error_kind::unsupported, path, "header compressed with an unsupported method");
  const auto& props = coder.properties;
  if (lzma_properties_decode(&filters[0], nullptr, props.data(), props.size()) != LZMA_OK)
    corrupt(path, "bad header coder properties");
  const std::unique_ptr<void, free_options> options(filters[0].options);
  // The dictionary never needs to exceed what can decode — no more than
  // claimed, and no more than LZMA can unpack from the packed bytes there
  // are — so a claimed 4 GiB dictionary or header does not become a 4 GiB
  // allocation.
  auto* lzma = static_cast<lzma_options_lzma*>(filters[0].options);
  const std::uint64_t possible =
      pack_size > kMaxHeaderBytes / kMaxUnpackRatio ? kMaxHeaderBytes : pack_size * kMaxUnpackRatio;
  const std::uint64_t needed =
      std::clamp<std::uint64_t>(std::min(claimed, possible), LZMA_DICT_SIZE_MIN, kMaxHeaderBytes);
  lzma->dict_size = static_cast<std::uint32_t>(std::min<std::uint64_t>(lzma->dict_size, needed));
  raw_decoder decoder(filters, path);
  lzma_stream& stream = decoder.stream();

  std::vector<std::uint8_t> input(static_cast<std::size_t>(std::min<std::uint64_t>(pack_size, kInputPiece)));
  std::vector<std::uint8_t> header(static_cast<std::size_t>(std::min<std::uint64_t>(claimed, kFirstOutput)));
  std::uint64_t read = 0;
  stream.next_out = header.data();
  stream.avail_out = header.size();
  for (;;) {
    if (stream.avail_in == 0 && read < pack_size) {
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(input.size(), pack_size - read));
      const std::size_t got = read_at(fd, offset + read, std::span(input.data(), want), path);
      if (got != want) corrupt(path, "the archive is truncated");
      read += got;
      stream.next_in = input.data();
      stream.avail_in = got;
    }
    if (stream.avail_out == 0) {
      // LZMA (v1) has no end marker: the claimed size reached is the end.
      const std::size_t produced = header.size();
      if (produced == claimed) break;
      if (produced >= kMaxHeaderBytes) too_large(path);
      const std::uint64_t grown = std::min<std::uint64_t>({claimed, kMaxHeaderBytes, std::uint64_t{produced} * 2});
      header.resize(static_cast<std::size_t>(grown));
      stream.next_out = header.data() + produced;
      stream.avail_out = header.size() - produced;
    }
    const lzma_ret ret = lzma_code(&stream, read == pack_size ? LZMA_FINISH : LZMA_RUN);
    if (ret == LZMA_STREAM_END || ret == LZMA_BUF_ERROR) break;  // the end, or no progress possible
    if (ret == LZMA_MEM_ERROR) throw archive_error(error_kind::compression, path, "out of memory decoding the header");
    if (ret != LZMA_OK) corrupt(path, "the compressed header does not decode");
  }
  const std::size_t produced = header.size() - stream.avail_out;
  if (produced != claimed) {
    corrupt(path, fmt::format("the compressed header unpacks to {} bytes, not the {} it claims", produced, claimed));
  }
  return header;
}

}  // namespace sevenzfs::archive
