#include "byte_reader.hpp"

#include "archive_error.hpp"
#include "archive_limits.hpp"

#include <fmt/format.h>

namespace sevenzfs::archive {

void byte_reader::fail(const std::string& what) const {
  throw archive_error(error_kind::corrupt_archive, context_,
                      fmt::format("damaged 7z header at byte {}: {}", base_ + position_, what));
}

std::uint8_t byte_reader::byte() {
  if (position_ >= data_.size()) fail("unexpected end");
  return data_[position_++];
}

std::span<const std::uint8_t> byte_reader::bytes(std::uint64_t count) {
  if (count > data_.size() - position_) fail("unexpected end");
  const auto result = data_.subspan(position_, static_cast<std::size_t>(count));
  position_ += static_cast<std::size_t>(count);
  return result;
}

std::uint64_t byte_reader::number() {
  const std::uint8_t first = byte();
  std::uint8_t mask = 0x80;
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) {
    if ((first & mask) == 0) {
      const std::uint64_t high = first & (mask - 1u);
      return value | (high << (8 * i));
    }
    value |= std::uint64_t{byte()} << (8 * i);
    mask >>= 1;
  }
  return value;
}

std::size_t byte_reader::count() {
  const std::uint64_t n = number();
  if (n > remaining()) fail(fmt::format("a count of {} with {} bytes left", n, remaining()));
  if (n > kMaxEntries) {
    throw archive_error(error_kind::unsupported, context_, fmt::format("more than {} entries", kMaxEntries));
  }
  return static_cast<std::size_t>(n);
}

std::uint32_t byte_reader::u32_le() {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= std::uint32_t{byte()} << (8 * i);
  return value;
}

std::uint64_t byte_reader::u64_le() {
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= std::uint64_t{byte()} << (8 * i);
  return value;
}

std::vector<bool> byte_reader::bit_vector(std::size_t count) {
  if (count / 8 + (count % 8 != 0) > remaining()) fail("unexpected end");
  std::vector<bool> bits(count);
  std::uint8_t current = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (i % 8 == 0) current = byte();
    bits[i] = (current & (0x80 >> (i % 8))) != 0;
  }
  return bits;
}

std::vector<bool> byte_reader::defined_vector(std::size_t count) {
  if (byte() != 0) return std::vector<bool>(count, true);
  return bit_vector(count);
}

}  // namespace sevenzfs::archive
