#pragma once
// CRC-32 (IEEE, as 7z uses it), incremental. liblzma's table-driven
// implementation is used rather than a hand-written one.
#include <cstdint>
#include <span>

namespace sevenzfs::archive {

class crc32 {
 public:
  void update(std::span<const std::uint8_t> data) noexcept;
  std::uint32_t value() const noexcept { return value_; }

  static std::uint32_t of(std::span<const std::uint8_t> data) noexcept {
    crc32 crc;
    crc.update(data);
    return crc.value();
  }

 private:
  std::uint32_t value_ = 0;
};

}  // namespace sevenzfs::archive
