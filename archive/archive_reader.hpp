#pragma once
// Opens an existing 7z archive and reads its database, so that a mount can
// show its entries and commits can append to it. Verifies the signature, the
// start header's CRC, the header's CRC and (for an LZMA/LZMA2-encoded
// header) the unpacked header's CRC; anything else is a corrupt_archive error
// naming the archive and saying what is wrong.
#include "archive_database.hpp"

#include <cstdint>
#include <string>

namespace sevenzfs::archive {

struct archive_layout {
  archive_database db;
  std::uint64_t packs_end = 32;      // absolute offset where the main pack streams end
  std::uint64_t header_start = 32;   // where the header's bytes begin (an encoded header's packed stream)
  std::uint64_t header_offset = 32;  // absolute offset of the header the start header points to
  std::uint64_t header_size = 0;
  std::uint64_t file_size = 32;
};

archive_layout read_archive(const std::string& path);

}  // namespace sevenzfs::archive
