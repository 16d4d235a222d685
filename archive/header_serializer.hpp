#pragma once
// Serializes an archive_database into 7z header bytes, one function per
// section of DOC/7zFormat.txt, and builds the 32-byte start header.
#include "archive_database.hpp"
#include "byte_writer.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace sevenzfs::archive {

namespace property_id {
inline constexpr std::uint8_t kEnd = 0x00;
inline constexpr std::uint8_t kHeader = 0x01;
inline constexpr std::uint8_t kMainStreamsInfo = 0x04;
inline constexpr std::uint8_t kFilesInfo = 0x05;
inline constexpr std::uint8_t kPackInfo = 0x06;
inline constexpr std::uint8_t kUnpackInfo = 0x07;
inline constexpr std::uint8_t kSubStreamsInfo = 0x08;
inline constexpr std::uint8_t kSize = 0x09;
inline constexpr std::uint8_t kCrc = 0x0A;
inline constexpr std::uint8_t kFolder = 0x0B;
inline constexpr std::uint8_t kCodersUnpackSize = 0x0C;
inline constexpr std::uint8_t kNumUnpackStream = 0x0D;
inline constexpr std::uint8_t kEmptyStream = 0x0E;
inline constexpr std::uint8_t kEmptyFile = 0x0F;
inline constexpr std::uint8_t kName = 0x11;
inline constexpr std::uint8_t kCTime = 0x12;
inline constexpr std::uint8_t kATime = 0x13;
inline constexpr std::uint8_t kMTime = 0x14;
inline constexpr std::uint8_t kWinAttributes = 0x15;
inline constexpr std::uint8_t kEncodedHeader = 0x17;
}  // namespace property_id

inline constexpr std::size_t kStartHeaderSize = 32;
// The first bytes of every 7z archive.
inline constexpr std::array<std::uint8_t, 6> kSignature{0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C};

// `last_pack_size`, when given, stands for the last of `pack_sizes` (see serialize_header).
void write_pack_info(byte_writer& out, std::uint64_t pack_position, const std::vector<std::uint64_t>& pack_sizes,
                     std::optional<std::uint64_t> last_pack_size = std::nullopt);
void write_folder(byte_writer& out, const folder_info& folder);
void write_unpack_info(byte_writer& out, const std::vector<folder_info>& folders);
void write_substreams_info(byte_writer& out, const archive_database& db);
void write_streams_info(byte_writer& out, const archive_database& db,
                        std::optional<std::uint64_t> last_pack_size = std::nullopt);
// Throws archive_error(invalid_name) for a name that is not valid UTF-8.
void write_files_info(byte_writer& out, const std::vector<file_info>& files);

// At least the size of serialize_header(db), cheaply (each number counted at
// its longest). The header is reserved at this size: grown by doubling, a
// million files' 140 MB header would briefly be held twice. For a header
// that large glibc maps the block, and the bound's slack is pages never
// touched; a small header's slack may be heap memory already resident.
std::uint64_t header_size_bound(const archive_database& db);

// The plain header (kHeader ...). With `last_pack_size`, as if the last pack
// stream were that long: the header that stands in while an in-place commit
// writes over the end marker of that stream (archive_appender.hpp).
std::vector<std::uint8_t> serialize_header(const archive_database& db,
                                           std::optional<std::uint64_t> last_pack_size = std::nullopt);

// The kEncodedHeader block describing a packed header stream at
// `pack_position` (relative to byte 32) that unpacks through `folder`.
std::vector<std::uint8_t> serialize_encoded_header(std::uint64_t pack_position, std::uint64_t pack_size,
                                                   const folder_info& folder);

// Signature, version 0.4, StartHeaderCRC, NextHeaderOffset (relative to byte 32),
// NextHeaderSize, NextHeaderCRC.
std::array<std::uint8_t, kStartHeaderSize> make_start_header(std::uint64_t next_header_offset,
                                                             std::uint64_t next_header_size,
                                                             std::uint32_t next_header_crc);

}  // namespace sevenzfs::archive
