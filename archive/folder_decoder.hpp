#pragma once
// Decodes one folder's content sequentially from the archive file: builds
// the folder's coder graph (7zFormat.txt "Folder": coders, bind pairs, pack
// streams) out of liblzma chains, Copy, BCJ2 and the RISC-V filter, and
// reads its main output. Nothing is allocated from sizes the header claims:
// buffers are fixed, dictionaries are capped at the output size and the
// whole graph at a memory limit. Malformed data is corrupt_archive (never a
// crash or a hang), a method it cannot decode is unsupported.
#include "archive_database.hpp"
#include "lzma2_chunks.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sevenzfs::archive {

class byte_source;

// Where one pack stream lies in the archive file.
struct pack_stream_range {
  std::uint64_t offset = 0;  // absolute
  std::uint64_t size = 0;
};

inline constexpr std::uint64_t kDefaultDecoderMemoryLimit = std::uint64_t{1} << 30;

struct folder_decoder_options {
  // liblzma memory the folder's decoders may take (dictionaries are first
  // capped at the output size); above it the folder is unsupported.
  std::uint64_t memory_limit = kDefaultDecoderMemoryLimit;
  // A folder still being written (a sync-flushed LZMA2 stream with no end
  // marker yet): only this many unpacked bytes exist and can be read. The
  // decoder never requires an end marker; with a branch filter above the
  // LZMA2 stream its last few bytes are held back until the stream ends.
  std::optional<std::uint64_t> available;
  // Where to start instead of the folder's start: a chunk that resets the
  // dictionary (walk_lzma2_chunks), from which the stream decodes without
  // what came before; position() begins at its unpacked offset. Only for a
  // folder of a single LZMA2 coder reading a single pack stream (else an
  // invalid_input error); an entry past the folder's data is
  // corrupt_archive, past what is `available` invalid_input.
  std::optional<lzma2_reset> entry;
};

class folder_decoder {
 public:
  // `fd` must stay open for the decoder's life; `path` names the archive in
  // errors; `packs` are the folder's pack streams in its packed_streams order.
  folder_decoder(int fd, std::string path, const folder_info& folder, std::span<const pack_stream_range> packs,
                 const folder_decoder_options& options = {});
  ~folder_decoder();
  folder_decoder(folder_decoder&&) noexcept;
  folder_decoder& operator=(folder_decoder&&) noexcept;

  // Fills `out` from the current position; fewer bytes only at size().
  std::size_t read(std::span<std::uint8_t> out);
  // Decodes and drops `count` bytes (clamped at size()).
  void skip(std::uint64_t count);

  std::uint64_t position() const noexcept { return position_; }
  // What can be read: the folder's unpack size, or `available` if smaller.
  std::uint64_t size() const noexcept { return size_; }
  // Estimated bytes held: liblzma state and every buffer of the graph.
  std::uint64_t memory_usage() const noexcept;

 private:
  std::unique_ptr<byte_source> output_;
  std::string path_;
  std::uint64_t position_ = 0;
  std::uint64_t size_ = 0;
};

}  // namespace sevenzfs::archive
