#pragma once
// Generated hostile archives: damaged, forged or otherwise unusable inputs
// that every reader of an ARCHIVE (read_archive, the daemon) must refuse
// quickly, with bounded memory, without changing them. Reused by the
// daemon's end-to-end tests, which expect exit status 3 for each.
//
// The cases: truncations of 7zz's and sevenzfs's archives at many points
// (every byte of their headers, with and without CRCs that match the
// truncated header); bit flips in the start header, the header, the encoded
// header and the packed header stream; forged headers that claim a 4 GiB
// header, 40 million files, pack positions and sizes that wrap past 2^64,
// substream sizes that overflow, a cyclic coder graph, packs overlapping the
// header, encoded headers nested too deep; an encrypted-header archive and
// the first volume of a multi-volume archive (both by 7zz); a FIFO and a
// directory.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace sevenzfs::test {

struct hostile_case {
  std::string name;            // what is wrong with it, for messages
  std::filesystem::path path;  // what to open as the archive
  bool regular_file = true;    // false for the FIFO and the directory
};

// Writes the cases into `dir` (an existing, empty directory) and returns
// them. Needs 7zz on PATH. Deterministic except for the 7zz-made archives.
std::vector<hostile_case> make_hostile_archives(const std::filesystem::path& dir);

// Small archives as sevenzfs (plain and LZMA2-encoded header) and 7zz
// (plain and LZMA-encoded header) write them, split where the header
// begins: `body` is what lies between the start header and the header.
struct archive_sample {
  std::string name;
  std::vector<std::uint8_t> body;
  std::vector<std::uint8_t> header;
};
std::vector<archive_sample> make_sample_archives(const std::filesystem::path& dir);

// An archive file: a start header pointing at `header` (with its CRC), laid
// after `body` (the pack streams and packed headers, from byte 32 on).
std::vector<std::uint8_t> assemble_archive(std::span<const std::uint8_t> body, std::span<const std::uint8_t> header);

}  // namespace sevenzfs::test
