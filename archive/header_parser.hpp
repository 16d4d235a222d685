#pragma once
// Parses 7z header bytes back into an archive_database (the inverse of
// header_serializer), for mounting and appending to an existing archive.
// Folders keep their raw record so any coder chain is written back as it
// was; folders with more than one packed stream (BCJ2) are refused, and so
// are external headers and anti-items. Times other than mtime are dropped.
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

// `header` starts with kHeader; `path` names the archive in errors.
archive_database parse_header(std::span<const std::uint8_t> header, const std::string& path);
// `header` starts with kEncodedHeader.
encoded_header_info parse_encoded_header(std::span<const std::uint8_t> header, const std::string& path);

}  // namespace sevenzfs::archive
