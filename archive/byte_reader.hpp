#pragma once
// Reads the primitive encodings of the 7z header (the inverse of
// byte_writer). Running past the end throws archive_error(corrupt_archive).
// Header bytes are untrusted: count() bounds a claimed number of items by
// the bytes that remain, so no claimed count can drive an allocation larger
// than the header that claims it.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sevenzfs::archive {

class byte_reader {
 public:
  // `base` is where `data` starts in the header, so that errors in a
  // property's payload name the byte of the whole header.
  byte_reader(std::span<const std::uint8_t> data, std::string context, std::size_t base = 0)
      : data_(data), context_(std::move(context)), base_(base) {}

  std::uint8_t byte();
  std::span<const std::uint8_t> bytes(std::uint64_t count);
  std::uint64_t number();
  // A number of items of which each takes at least one more byte of what
  // remains (a larger claim is damage) and of which there are at most
  // kMaxEntries (more is archive_error(unsupported)).
  std::size_t count();
  std::uint32_t u32_le();
  std::uint64_t u64_le();
  std::vector<bool> bit_vector(std::size_t count);
  // AllAreDefined byte, then a bit vector unless it is 1.
  std::vector<bool> defined_vector(std::size_t count);

  std::size_t position() const noexcept { return position_; }
  std::size_t remaining() const noexcept { return data_.size() - position_; }
  const std::string& context() const noexcept { return context_; }
  [[noreturn]] void fail(const std::string& what) const;

 private:
  std::span<const std::uint8_t> data_;
  std::string context_;
  std::size_t base_ = 0;
  std::size_t position_ = 0;
};

}  // namespace sevenzfs::archive
