#pragma once
// Writes a complete 7z archive from a list of entries: the 32-byte start
// header is reserved, packed streams go to disk as they are produced, the
// header (LZMA2-compressed when that pays, as 7-Zip does) follows them, and
// the start header is patched last. The file is built under a temporary name
// and renamed into place only when complete.
#include "archive_database.hpp"
#include "archive_reader.hpp"
#include "entry.hpp"
#include "folder_packer.hpp"
#include "lzma_settings.hpp"
#include "output_file.hpp"
#include "pack_plan.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace sevenzfs::archive {

struct write_options {
  plan_options plan;
  compression_options compression;
};

struct write_summary {
  std::uint64_t entries = 0;
  std::uint64_t folders = 0;
  std::uint64_t input_bytes = 0;    // content bytes of all entries
  std::uint64_t packed_bytes = 0;   // pack streams, without headers
  std::uint64_t archive_bytes = 0;  // the whole file
};

// 7-Zip's default solid block for a level: 128 x dictionary, 16 MiB - 4 GiB.
std::uint64_t default_solid_block_bytes(int level);

// Throws archive_error(invalid_name) unless `path` is a storable archive path:
// valid UTF-8, not empty, relative, no empty, "." or ".." components.
void check_archive_path(const std::string& path);

// A header serialized (and compressed, when that is smaller, as 7-Zip does,
// on up to `threads` threads: header_compressor.hpp) once, to be written at
// any position: an encoded header names the position of its packed stream,
// so its final bytes depend on where they go.
class prepared_header {
 public:
  // `last_pack_size`: see serialize_header.
  prepared_header(const archive_database& db, int level, unsigned threads,
                  std::optional<std::uint64_t> last_pack_size = std::nullopt,
                  header_effort effort = header_effort::best);
  // Bytes written at `at` take at most this many.
  std::uint64_t size_bound() const noexcept;
  // Writes the header at `at` (absolute), fsyncs, then points the start
  // header at it. Does not fsync the start header.
  header_location write(output_file& out, std::uint64_t at) const;

 private:
  bool empty_ = false;
  std::vector<std::uint8_t> plain_;  // only while the header is written plain
  std::uint64_t plain_size_ = 0;
  std::uint32_t plain_crc_ = 0;
  std::vector<std::vector<std::uint8_t>> packed_;  // the parts of the stream; none: written plain
  std::uint64_t packed_size_ = 0;
  std::uint8_t property_ = 0;
};

// Writes the header for `db` at out.position() (after the pack streams),
// fsyncs, then writes the start header pointing at it. Does not commit.
header_location write_header(output_file& out, const archive_database& db, int level, unsigned threads,
                             header_effort effort = header_effort::best);

struct created_archive {
  archive_layout layout;                    // what is now on disk (with layout.file when asked)
  std::vector<std::uint64_t> stream_index;  // for each entry with data, its substream
};

// Writes a new archive at `path` (temporary name, fsync, rename, fsync of
// the directory): `without_data` (directories, empty files) first, then
// `with_data` in folder order. Paths must have been checked. On error
// nothing is left behind and an existing file at `path` is untouched.
// `keep_open`: the layout holds the new archive open for reading
// (output_file::reader, taken before the rename).
created_archive create_archive(const std::string& path, std::span<const entry> without_data,
                               std::span<const entry> with_data, const write_options& options, bool keep_open = false);

// Writes `entries` as a new archive at `path`, as create_archive does.
write_summary write_archive(const std::string& path, std::span<const entry> entries, const write_options& options);

}  // namespace sevenzfs::archive
