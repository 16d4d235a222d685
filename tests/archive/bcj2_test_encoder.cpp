#include "bcj2_test_encoder.hpp"

#include <array>

namespace sevenzfs::test {

namespace {

class range_encoder {
 public:
  explicit range_encoder(std::vector<std::uint8_t>& out) : out_(out) {}

  void encode(std::uint16_t& probability, bool bit) {
    const std::uint32_t bound = (range_ >> 11) * probability;
    if (!bit) {
      range_ = bound;
      probability = static_cast<std::uint16_t>(probability + ((2048 - probability) >> 5));
    } else {
      low_ += bound;
      range_ -= bound;
      probability = static_cast<std::uint16_t>(probability - (probability >> 5));
    }
    while (range_ < (1u << 24)) {
      range_ <<= 8;
      shift_low();
    }
  }

  void flush() {
    for (int i = 0; i < 5; ++i) shift_low();
  }

 private:
  void shift_low() {
    if (static_cast<std::uint32_t>(low_) < 0xFF000000u || (low_ >> 32) != 0) {
      const auto carry = static_cast<std::uint8_t>(low_ >> 32);
      std::uint8_t pending = cache_;
      do {
        out_.push_back(static_cast<std::uint8_t>(pending + carry));
        pending = 0xFF;
      } while (--cache_size_ != 0);
      cache_ = static_cast<std::uint8_t>(low_ >> 24);
    }
    ++cache_size_;
    low_ = (low_ & 0x00FFFFFF) << 8;
  }

  std::vector<std::uint8_t>& out_;
  std::uint64_t low_ = 0;
  std::uint32_t range_ = 0xFFFFFFFF;
  std::uint8_t cache_ = 0;
  std::uint64_t cache_size_ = 1;
};

}  // namespace

bcj2_streams bcj2_encode(std::span<const std::uint8_t> data) {
  bcj2_streams streams;
  range_encoder flags(streams.rc);
  std::array<std::uint16_t, 258> probabilities;
  probabilities.fill(1024);
  std::uint8_t previous = 0;
  bool convert_next = true;
  for (std::size_t i = 0; i < data.size();) {
    const std::uint8_t byte = data[i];
    streams.main.push_back(byte);
    const bool branch = (byte & 0xFE) == 0xE8 || (previous == 0x0F && (byte & 0xF0) == 0x80);
    if (!branch || i + 1 == data.size()) {
      previous = byte;
      ++i;
      continue;
    }
    auto& probability = probabilities[byte == 0xE8 ? previous : byte == 0xE9 ? 256 : 257];
    const bool convert = i + 5 <= data.size() && convert_next;
    convert_next = !convert_next;
    flags.encode(probability, convert);
    if (!convert) {
      previous = byte;
      ++i;
      continue;
    }
    std::uint32_t relative = 0;
    for (int k = 3; k >= 0; --k) relative = (relative << 8) | data[i + 1 + static_cast<std::size_t>(k)];
    const auto absolute = static_cast<std::uint32_t>(relative + (i + 5));
    auto& target = byte == 0xE8 ? streams.call : streams.jump;
    for (int k = 3; k >= 0; --k) target.push_back(static_cast<std::uint8_t>(absolute >> (8 * k)));
    previous = data[i + 4];
    i += 5;
  }
  flags.flush();
  return streams;
}

}  // namespace sevenzfs::test
