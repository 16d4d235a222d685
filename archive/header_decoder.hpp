#pragma once
// Unpacks the packed stream of an encoded header (kEncodedHeader): Copy,
// LZMA or LZMA2, as 7-Zip, libarchive, py7zr and sevenzfs write it. The
// claimed unpacked size is untrusted: input is read in small pieces and the
// output buffer grows only as data really decodes (at most twice what has
// decoded), so a header that claims 4 GiB but holds 100 bytes costs 100
// bytes, and one that truly unpacks beyond kMaxHeaderBytes (archive_limits.hpp)
// is refused.
#include "archive_database.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace sevenzfs::archive {

// Reads `pack_size` bytes at absolute `offset` of `fd` and unpacks them
// through `folder` (one coder). Throws archive_error: corrupt_archive when
// the data does not decode to exactly the folder's unpack size,
// unsupported for other methods (AES: an encrypted header), coder chains
// and headers over kMaxHeaderBytes. Does not check the folder's CRC.
std::vector<std::uint8_t> decode_packed_header(int fd, std::uint64_t offset, std::uint64_t pack_size,
                                               const folder_info& folder, const std::string& path);

}  // namespace sevenzfs::archive
