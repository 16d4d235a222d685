#include "archive_database.hpp"

#include <sys/stat.h>

#include <algorithm>

namespace sevenzfs::archive {

std::size_t folder_info::total_in_streams() const noexcept {
  std::size_t total = 0;
  for (const auto& coder : coders) total += coder.in_streams;
  return total;
}

std::size_t folder_info::total_out_streams() const noexcept {
  std::size_t total = 0;
  for (const auto& coder : coders) total += coder.out_streams;
  return total;
}

std::size_t folder_info::main_output() const noexcept {
  const std::size_t outputs = total_out_streams();
  for (std::size_t out = 0; out < outputs; ++out) {
    const bool bound = std::ranges::any_of(bind_pairs, [&](const bind_pair& pair) { return pair.out_index == out; });
    if (!bound) return out;
  }
  return 0;
}

std::uint64_t folder_info::unpack_size() const noexcept {
  const std::size_t main = main_output();
  return main < unpack_sizes.size() ? unpack_sizes[main] : 0;
}

folder_info make_folder(coder_info coder, std::uint64_t unpack_size, std::optional<std::uint32_t> unpack_crc) {
  folder_info folder;
  folder.coders.push_back(std::move(coder));
  folder.unpack_sizes.push_back(unpack_size);
  folder.unpack_crc = unpack_crc;
  return folder;
}

std::optional<std::uint64_t> filetime_from_unix(std::int64_t seconds, std::uint32_t nanoseconds) noexcept {
  constexpr std::int64_t kTicksPerSecond = 10'000'000;
  constexpr std::int64_t kSecondsFrom1601To1970 = 11'644'473'600;
  const std::int64_t since_1601 = seconds + kSecondsFrom1601To1970;
  if (since_1601 < 0) return std::nullopt;
  return static_cast<std::uint64_t>(since_1601) * kTicksPerSecond + nanoseconds / 100;
}

std::uint32_t attributes_from_mode(std::uint32_t st_mode) noexcept {
  constexpr std::uint32_t kReadOnly = 0x01;
  constexpr std::uint32_t kDirectory = 0x10;
  constexpr std::uint32_t kArchive = 0x20;
  constexpr std::uint32_t kUnixExtension = 0x8000;
  std::uint32_t windows = S_ISDIR(st_mode) ? kDirectory : kArchive;
  if ((st_mode & 0222) == 0) windows |= kReadOnly;
  return windows | kUnixExtension | ((st_mode & 0xFFFF) << 16);
}

}  // namespace sevenzfs::archive
