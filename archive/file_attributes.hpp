#pragma once
// 7z's encodings of what a file is, both ways: FILETIME and Unix times,
// Windows attributes with the Unix extension and st_mode, and the file_info a
// header records for an entry.
#include "archive_database.hpp"
#include "entry.hpp"

#include <cstdint>
#include <ctime>
#include <optional>

namespace sevenzfs::archive {

// FILETIME of a Unix time, or nullopt before 1601.
std::optional<std::uint64_t> filetime_from_unix(std::int64_t seconds, std::uint32_t nanoseconds) noexcept;
std::optional<std::uint64_t> filetime_from_unix(const std::timespec& time) noexcept;
std::timespec unix_time_from_filetime(std::uint64_t filetime) noexcept;
// The nearest time a FILETIME can hold, as the kernel clamps a time to what
// a filesystem stores: 1601-01-01 plus 100 ns (7-Zip takes FILETIME 0 for no
// time) for anything earlier, the latest FILETIME Windows accepts
// (0x7FFFFFFFFFFFFFFF ticks, in the year 30828) for anything later.
std::timespec nearest_filetime(const std::timespec& time) noexcept;

// 7z attributes for a full st_mode: Windows bits plus the Unix extension
// (0x8000 flag, st_mode in the high 16 bits) that 7-Zip and libarchive restore.
std::uint32_t attributes_from_mode(std::uint32_t st_mode) noexcept;
// The st_mode the attributes describe: the Unix extension when present, else
// what libarchive derives (0755 directories; 0444 read-only files; 0644).
std::uint32_t mode_from_attributes(std::optional<std::uint32_t> attributes, bool directory) noexcept;

// The file_info (name, kind, time, attributes) recorded for an entry.
file_info describe_entry(const entry& e);
// Whether describe_entry(e) records what `file` does (name, kind, time,
// attributes; whether it has a stream aside), without making a copy.
bool describes_as(const entry& e, const file_info& file) noexcept;
// The entry a file_info describes (no content; `size` is its stream's size).
// Times missing from the header become `default_time`.
entry entry_from_file(const file_info& file, std::uint64_t size, const std::timespec& default_time);

}  // namespace sevenzfs::archive
