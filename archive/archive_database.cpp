#include "archive_database.hpp"

#include <sys/stat.h>

namespace sevenzfs::archive {

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
