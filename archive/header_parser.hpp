#pragma once
// Parses 7z header bytes back into an archive_database (the inverse of
// header_serializer), for mounting and appending to an existing archive.
// Folders keep their whole coder graph (BCJ2's four pack streams too), so a
// header written back describes them exactly. External headers and
// anti-items are refused.
//
// The bytes are untrusted: every count is bounded by the bytes that remain,
// every sum of sizes is checked for overflow, and a coder graph must be a
// tree with one unbound output. Damage is archive_error(corrupt_archive);
// valid 7z features this reader does not implement are
// archive_error(unsupported).
#include "archive_database.hpp"

#include <cstdint>
#include <span>
#include <string>

namespace sevenzfs::archive {

// A kEncodedHeader block: where the packed header is and how it unpacks.
struct encoded_header_info {
  std::uint64_t pack_position = 0;
  std::uint64_t pack_size = 0;
  folder_info folder;
};

// `header` starts with kHeader; `path` names the archive in errors and gives
// the name of entries stored without one (see default_item_name).
archive_database parse_header(std::span<const std::uint8_t> header, const std::string& path);
// `header` starts with kEncodedHeader.
encoded_header_info parse_encoded_header(std::span<const std::uint8_t> header, const std::string& path);

}  // namespace sevenzfs::archive
