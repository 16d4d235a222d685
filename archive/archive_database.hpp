#pragma once
// What a 7z header describes (DOC/7zFormat.txt), as plain arrays. Every folder
// here has one coder and one pack stream; "not defined" is std::optional,
// never a sentinel value. The same database serves a new archive and, later,
// an existing one that new folders are appended to.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sevenzfs::archive {

struct coder_info {
  std::vector<std::uint8_t> method_id;   // {0x21} LZMA2, {0x00} Copy
  std::vector<std::uint8_t> properties;  // LZMA2: the dictionary byte; Copy: none
};

inline const std::vector<std::uint8_t> kMethodCopy{0x00};
inline const std::vector<std::uint8_t> kMethodLzma2{0x21};

struct folder_info {
  coder_info coder;
  std::uint64_t unpack_size = 0;
  std::optional<std::uint32_t> unpack_crc;  // only the encoded header's folder has one
  // A folder read from an existing archive is written back exactly as it
  // was (any coder chain): its record from the header, and one unpack size
  // per coder output. Empty for folders this writer makes.
  std::vector<std::uint8_t> raw_record;
  std::vector<std::uint64_t> raw_unpack_sizes;
};

// A folder this writer makes: one coder.
inline folder_info make_folder(coder_info coder, std::uint64_t unpack_size,
                               std::optional<std::uint32_t> unpack_crc = std::nullopt) {
  folder_info folder;
  folder.coder = std::move(coder);
  folder.unpack_size = unpack_size;
  folder.unpack_crc = unpack_crc;
  return folder;
}

struct file_info {
  std::string name;  // UTF-8 archive path
  bool has_stream = false;
  bool is_directory = false;  // meaningful only without a stream
  std::optional<std::uint64_t> mtime;       // FILETIME: 100 ns ticks since 1601
  std::optional<std::uint32_t> attributes;  // Windows attributes | 0x8000 | st_mode << 16
};

struct archive_database {
  std::uint64_t pack_position = 0;            // first pack stream, relative to byte 32
  std::vector<std::uint64_t> pack_sizes;      // one per folder, contiguous on disk
  std::vector<folder_info> folders;
  std::vector<std::uint64_t> substream_counts;  // files per folder (never 0)
  std::vector<std::uint64_t> substream_sizes;   // all folders' files, in order
  std::vector<std::optional<std::uint32_t>> substream_crcs;
  std::vector<file_info> files;  // stream files appear in substream order

  bool empty() const noexcept { return files.empty(); }
};

// FILETIME of a Unix time, or nullopt before 1601.
std::optional<std::uint64_t> filetime_from_unix(std::int64_t seconds, std::uint32_t nanoseconds) noexcept;

// 7z attributes for a full st_mode: Windows bits plus the Unix extension
// (0x8000 flag, st_mode in the high 16 bits) that 7-Zip and libarchive restore.
std::uint32_t attributes_from_mode(std::uint32_t st_mode) noexcept;

}  // namespace sevenzfs::archive
