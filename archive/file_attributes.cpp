#include "file_attributes.hpp"

#include <sys/stat.h>

namespace sevenzfs::archive {

namespace {
constexpr std::int64_t kTicksPerSecond = 10'000'000;
constexpr std::int64_t kSecondsFrom1601To1970 = 11'644'473'600;
constexpr std::uint32_t kReadOnly = 0x01;
constexpr std::uint32_t kDirectory = 0x10;
constexpr std::uint32_t kArchive = 0x20;
constexpr std::uint32_t kUnixExtension = 0x8000;
}  // namespace

std::optional<std::uint64_t> filetime_from_unix(std::int64_t seconds, std::uint32_t nanoseconds) noexcept {
  const std::int64_t since_1601 = seconds + kSecondsFrom1601To1970;
  if (since_1601 < 0) return std::nullopt;
  return static_cast<std::uint64_t>(since_1601) * kTicksPerSecond + nanoseconds / 100;
}

std::timespec nearest_filetime(const std::timespec& time) noexcept {
  constexpr std::uint64_t kLatest = 0x7FFF'FFFF'FFFF'FFFF;
  const std::timespec latest = unix_time_from_filetime(kLatest);
  // Not FILETIME 0 itself: 7-Zip lists and extracts that as no time.
  if (time.tv_sec < -kSecondsFrom1601To1970 || (time.tv_sec == -kSecondsFrom1601To1970 && time.tv_nsec < 100)) {
    return {-kSecondsFrom1601To1970, 100};
  }
  if (time.tv_sec > latest.tv_sec || (time.tv_sec == latest.tv_sec && time.tv_nsec > latest.tv_nsec)) return latest;
  return time;
}

std::optional<std::uint64_t> filetime_from_unix(const std::timespec& time) noexcept {
  return filetime_from_unix(time.tv_sec, static_cast<std::uint32_t>(time.tv_nsec));
}

std::timespec unix_time_from_filetime(std::uint64_t filetime) noexcept {
  const auto ticks = static_cast<std::int64_t>(filetime / kTicksPerSecond);
  const auto rest = static_cast<long>(filetime % kTicksPerSecond);
  return {ticks - kSecondsFrom1601To1970, rest * 100};
}

std::uint32_t attributes_from_mode(std::uint32_t st_mode) noexcept {
  std::uint32_t windows = S_ISDIR(st_mode) ? kDirectory : kArchive;
  if ((st_mode & 0222) == 0) windows |= kReadOnly;
  return windows | kUnixExtension | ((st_mode & 0xFFFF) << 16);
}

std::uint32_t mode_from_attributes(std::optional<std::uint32_t> attributes, bool directory) noexcept {
  if (attributes && (*attributes & kUnixExtension)) return *attributes >> 16;
  if (directory) return S_IFDIR | 0755;
  return S_IFREG | ((attributes && (*attributes & kReadOnly)) ? 0444u : 0644u);
}

file_info describe_entry(const entry& e) {
  file_info info;
  info.name = e.path;
  info.has_stream = e.kind != entry_kind::directory && e.size > 0;
  info.is_directory = e.kind == entry_kind::directory;
  info.mtime = filetime_from_unix(e.mtime);
  info.attributes = attributes_from_mode(unix_mode_of(e));
  return info;
}

bool describes_as(const entry& e, const file_info& file) noexcept {
  return e.path == file.name && (e.kind == entry_kind::directory) == file.is_directory &&
         filetime_from_unix(e.mtime) == file.mtime && attributes_from_mode(unix_mode_of(e)) == file.attributes;
}

entry entry_from_file(const file_info& file, std::uint64_t size, const std::timespec& default_time) {
  const bool directory = file.is_directory && !file.has_stream;
  const std::uint32_t st_mode = mode_from_attributes(file.attributes, directory);
  entry e;
  e.path = file.name;
  e.kind = entry_kind::file;
  if (directory) e.kind = entry_kind::directory;
  // A symlink is a link target stored as content; without content it can
  // only be an empty file.
  else if (S_ISLNK(st_mode) && file.has_stream)
    e.kind = entry_kind::symlink;
  e.mode = st_mode & 07777;
  e.mtime = file.mtime ? unix_time_from_filetime(*file.mtime) : default_time;
  e.size = file.has_stream ? size : 0;
  return e;
}

}  // namespace sevenzfs::archive
