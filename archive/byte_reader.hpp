#pragma once
// Reads the primitive encodings of the 7z header (the inverse of
// byte_writer). Running past the end throws archive_error(corrupt_archive).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sevenzfs::archive {

class byte_reader {
 public:
  byte_reader(std::span<const std::uint8_t> data, std::string context) : data_(data), context_(std::move(context)) {}

  std::uint8_t byte();
  std::span<const std::uint8_t> bytes(std::uint64_t count);
  std::uint64_t number();
  std::uint32_t u32_le();
  std::uint64_t u64_le();
  std::vector<bool> bit_vector(std::size_t count);
  // AllAreDefined byte, then a bit vector unless it is 1.
  std::vector<bool> defined_vector(std::size_t count);

  std::size_t position() const noexcept { return position_; }
  [[noreturn]] void fail(const std::string& what) const;

 private:
  std::span<const std::uint8_t> data_;
  std::string context_;
  std::size_t position_ = 0;
};

}  // namespace sevenzfs::archive
