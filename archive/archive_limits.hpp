#pragma once
// Limits on what an archive may claim, and overflow-checked arithmetic for
// the positions and sizes it gives. An archive is untrusted input: a sum
// that does not fit in 64 bits is damage, never a wrapped-around value, and
// what it would cost to hold is capped so that a few forged bytes cannot
// exhaust memory.
#include <cstddef>
#include <cstdint>
#include <optional>

namespace sevenzfs::archive {

inline std::optional<std::uint64_t> checked_add(std::uint64_t a, std::uint64_t b) noexcept {
  std::uint64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) return std::nullopt;
  return sum;
}

// Sizes from here on do not fit in off_t: no file or stream can be that large.
inline constexpr std::uint64_t kMaxStreamSize = std::uint64_t{1} << 63;

// The largest header (plain, or unpacked from an encoded header) read.
// 7-Zip and sevenzfs write some 40-120 bytes per entry, so this holds
// millions of entries; a larger header is archive_error(unsupported).
inline constexpr std::uint64_t kMaxHeaderBytes = std::uint64_t{256} << 20;

// The most files, folders, pack streams or substreams an archive may list
// (archive_error(unsupported) beyond). Every one of them must also take at
// least one byte of the header, but a compressed header of a few kilobytes
// can unpack to tens of megabytes of two-byte empty names; this cap keeps
// what such a header costs to hold (about 100 bytes per file, a few hundred
// per folder) to a few gigabytes at worst.
inline constexpr std::uint64_t kMaxEntries = std::uint64_t{1} << 24;

// 7-Zip's own limit on the coders of a folder (7zIn.cpp).
inline constexpr std::size_t kMaxCoders = 64;

}  // namespace sevenzfs::archive
