#include "byte_source.hpp"

#include "archive_error.hpp"
#include "file_io.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace sevenzfs::archive {

namespace {

class pack_stream_source final : public byte_source {
 public:
  pack_stream_source(int fd, std::string path, std::uint64_t offset, std::uint64_t size)
      : fd_(fd), path_(std::move(path)), offset_(offset), remaining_(size) {}

  std::size_t read(std::span<std::uint8_t> out) override {
    const auto wanted = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), remaining_));
    const std::size_t got = read_at(fd_, offset_, out.first(wanted), path_);
    if (got != wanted) {
      throw archive_error(
          error_kind::corrupt_archive, path_,
          fmt::format("damaged archive: a packed stream runs past the end of the file at {}", offset_ + got));
    }
    offset_ += got;
    remaining_ -= got;
    return got;
  }

  std::uint64_t memory_usage() const noexcept override { return sizeof(*this); }

 private:
  int fd_;
  std::string path_;
  std::uint64_t offset_;
  std::uint64_t remaining_;
};

class copy_source final : public byte_source {
 public:
  copy_source(source_ptr input, std::uint64_t size) : input_(std::move(input)), remaining_(size) {}

  std::size_t read(std::span<std::uint8_t> out) override {
    const auto wanted = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), remaining_));
    const std::size_t got = input_->read(out.first(wanted));
    remaining_ -= got;
    return got;
  }

  std::uint64_t memory_usage() const noexcept override { return sizeof(*this) + input_->memory_usage(); }

 private:
  source_ptr input_;
  std::uint64_t remaining_;
};

}  // namespace

source_ptr make_pack_stream_source(int fd, std::string path, std::uint64_t offset, std::uint64_t size) {
  return std::make_unique<pack_stream_source>(fd, std::move(path), offset, size);
}

source_ptr make_copy_source(source_ptr input, std::uint64_t size) {
  return std::make_unique<copy_source>(std::move(input), size);
}

buffered_input::buffered_input(source_ptr source, std::size_t buffer_size)
    : source_(std::move(source)), buffer_(buffer_size) {}

std::span<const std::uint8_t> buffered_input::peek() {
  if (position_ == end_ && !ended_) {
    end_ = source_->read(buffer_);
    position_ = 0;
    ended_ = end_ < buffer_.size();
  }
  return std::span<const std::uint8_t>(buffer_).subspan(position_, end_ - position_);
}

}  // namespace sevenzfs::archive
