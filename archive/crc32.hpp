#pragma once
// CRC-32 (IEEE, as 7z uses it), incremental. liblzma's table-driven
// implementation is used rather than a hand-written one.
#include <cstdint>
#include <span>

namespace sevenzfs::archive {

class crc32 {
 public:
  crc32() = default;
  explicit crc32(std::uint32_t value) noexcept : value_(value) {}
  void update(std::span<const std::uint8_t> data) noexcept;
  std::uint32_t value() const noexcept { return value_; }

  static std::uint32_t of(std::span<const std::uint8_t> data) noexcept {
    crc32 crc;
    crc.update(data);
    return crc.value();
  }
  // The CRC of A followed by B, from A's CRC, B's CRC and B's length (zlib's
  // crc32_combine): pieces of one file checked on different threads.
  static std::uint32_t combine(std::uint32_t first, std::uint32_t second, std::uint64_t second_length) noexcept;

 private:
  std::uint32_t value_ = 0;
};

}  // namespace sevenzfs::archive
