#include "crc32.hpp"

#include <lzma.h>

namespace sevenzfs::archive {

void crc32::update(std::span<const std::uint8_t> data) noexcept {
  // lzma_crc32 takes a size_t length, so no chunking is needed.
  value_ = lzma_crc32(data.data(), data.size(), value_);
}

}  // namespace sevenzfs::archive
