#pragma once
// Compresses planned folders into an output file and records them in the
// database. One thread: each folder is one LZMA2 stream written to disk as it
// is produced. Several threads: a folder's input is cut into parts (the
// folder's share per thread, at least 4x the level's dictionary as 7-Zip's
// block mode, at most max_part_bytes) that workers compress independently; the parts are written in order with only the
// last keeping the end marker, and the bytes in flight are bounded. A folder that does not shrink is stored with the
// Copy coder instead (with several threads, when it was compressed as one part; a larger folder stays LZMA2, whose
// uncompressed chunks cost about 0.01 %).
#include "archive_database.hpp"
#include "entry.hpp"
#include "file_attributes.hpp"
#include "lzma2_encoder.hpp"
#include "output_file.hpp"
#include "pack_plan.hpp"

#include <functional>
#include <memory>
#include <span>
#include <vector>

namespace sevenzfs::archive {

struct compression_options {
  int level = 5;         // 0: store; 1-9: LZMA2 with 7-Zip's -mx meaning
  unsigned threads = 1;  // compression threads
  // Largest part of a folder compressed in parallel; up to threads + 1 parts
  // are held in memory, so this bounds the memory of parallel compression.
  std::uint64_t max_part_bytes = std::uint64_t{256} << 20;
  // Called with the bytes of input consumed so far, as compression proceeds.
  std::function<void(std::uint64_t)> progress;
};

class folder_packer {
 public:
  folder_packer(output_file& out, archive_database& db, const compression_options& options);
  ~folder_packer();
  folder_packer(const folder_packer&) = delete;
  folder_packer& operator=(const folder_packer&) = delete;

  // Appends every planned folder's pack stream to the output, and its folder,
  // substreams and files to the database, in plan order.
  void pack(std::span<const entry> entries, const std::vector<folder_plan>& plan);

 private:
  struct streams;
  void pack_serial(std::span<const entry> entries, const folder_plan& folder);
  void pack_parallel(std::span<const entry> entries, const std::vector<folder_plan>& plan);
  void record(std::span<const entry> entries, const folder_plan& folder, const coder_info& coder,
              std::uint64_t pack_size, const std::vector<std::uint32_t>& crcs);

  output_file& out_;
  archive_database& db_;
  compression_options options_;
  lzma2_encoder serial_encoder_;
};

}  // namespace sevenzfs::archive
