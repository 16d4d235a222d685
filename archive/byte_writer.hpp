#pragma once
// Appends the primitive encodings of the 7z header (DOC/7zFormat.txt) to a
// growing byte buffer: the UINT64 varint, little-endian fixed-width numbers,
// and MSB-first bit vectors.
#include <cstdint>
#include <span>
#include <vector>

namespace sevenzfs::archive {

class byte_writer {
 public:
  void byte(std::uint8_t value) { bytes_.push_back(value); }
  void bytes(std::span<const std::uint8_t> data) { bytes_.insert(bytes_.end(), data.begin(), data.end()); }
  // 7z UINT64: the number of leading 1-bits of the first byte says how many
  // little-endian bytes follow; the first byte's remaining bits are the high part.
  void number(std::uint64_t value);
  void u32_le(std::uint32_t value);
  void u64_le(std::uint64_t value);
  // MSB-first, padded with zero bits to a whole byte.
  void bit_vector(const std::vector<bool>& bits);

  void reserve(std::size_t bytes) { bytes_.reserve(bytes); }
  const std::vector<std::uint8_t>& data() const noexcept { return bytes_; }
  std::vector<std::uint8_t> take() noexcept { return std::move(bytes_); }
  std::size_t size() const noexcept { return bytes_.size(); }

 private:
  std::vector<std::uint8_t> bytes_;
};

}  // namespace sevenzfs::archive
