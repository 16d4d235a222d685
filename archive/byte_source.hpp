#pragma once
// The streams a folder decoder is assembled from: every coder output and
// every pack stream is a byte_source that the coder above it pulls from.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace sevenzfs::archive {

class byte_source {
 public:
  virtual ~byte_source() = default;
  // Fills `out`; returns fewer bytes only at the end of the stream (0: ended).
  virtual std::size_t read(std::span<std::uint8_t> out) = 0;
  // Bytes this stage holds (buffers, liblzma state), for memory accounting.
  virtual std::uint64_t memory_usage() const noexcept = 0;
};

using source_ptr = std::unique_ptr<byte_source>;

// `size` bytes of the archive file at absolute `offset`. A file shorter than
// that is a corrupt_archive error naming `path`.
source_ptr make_pack_stream_source(int fd, std::string path, std::uint64_t offset, std::uint64_t size);

// At most `size` bytes of `input` (the Copy coder).
source_ptr make_copy_source(source_ptr input, std::uint64_t size);

// Buffered byte-wise access to a source, for coders that parse their input.
class buffered_input {
 public:
  buffered_input(source_ptr source, std::size_t buffer_size);

  // The buffered bytes, refilled when empty; empty only at the end.
  std::span<const std::uint8_t> peek();
  void consume(std::size_t count) noexcept { position_ += count; }
  // One byte; false at the end.
  bool next(std::uint8_t& byte) {
    if (position_ == end_ && peek().empty()) return false;
    byte = buffer_[position_++];
    return true;
  }
  std::uint64_t memory_usage() const noexcept { return buffer_.size() + source_->memory_usage(); }

 private:
  source_ptr source_;
  std::vector<std::uint8_t> buffer_;
  std::size_t position_ = 0;
  std::size_t end_ = 0;
  bool ended_ = false;
};

}  // namespace sevenzfs::archive
