#pragma once
// Compresses planned folders into an output file and records them in the
// database. One thread: each folder is one LZMA2 stream written to disk as it
// is produced. Several threads: a folder's input is cut into dictionary-primed
// parts that workers compress (parallel_encoder): the folder compresses as well
// as one stream would, and memory does not grow with the folder. A folder that
// does not shrink is stored with the Copy coder instead (with several threads,
// when it was compressed as one part; a larger folder stays LZMA2, whose
// uncompressed chunks cost about 0.01 %).
#include "archive_database.hpp"
#include "entry.hpp"
#include "file_attributes.hpp"
#include "folder_continuation.hpp"
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
  // With several threads, the longest part of a folder (0: four dictionaries,
  // see part_bytes_for). Shorter parts hold less memory (compression_memory_bytes)
  // but cost CPU: every part primes its encoder with a dictionary of input.
  std::uint64_t max_part_bytes = 0;
  // A continued file (pack_continued) resets the dictionary instead of
  // priming once its archived stream has gone this far without a reset
  // (0: continuation_reset_bytes_for the level), so that a read far into a
  // long log decodes from a reset near it (cached_reader).
  std::uint64_t continuation_reset_bytes = 0;
  // Called with the number of input bytes whose packed bytes were just
  // written (whose compression is done), as compression proceeds; not the
  // archived prefix of a continued file, which is copied.
  std::function<void(std::uint64_t)> progress;
};

// How far a continued stream goes without a dictionary reset at `level`:
// four of its dictionaries, at least 64 MiB (7-Zip's multithreaded encoder
// resets every four dictionaries).
std::uint64_t continuation_reset_bytes_for(int level);

// An upper bound of the memory compressing with `options` takes besides the
// entries' own storage: the encoders (liblzma's estimate for the level's
// whole dictionary) and, with several threads, the parts in flight. It does
// not depend on the number or size of the entries.
std::uint64_t compression_memory_bytes(const compression_options& options);

class folder_packer {
 public:
  folder_packer(output_file& out, archive_database& db, const compression_options& options);
  ~folder_packer();
  folder_packer(const folder_packer&) = delete;
  folder_packer& operator=(const folder_packer&) = delete;

  // Appends every planned folder's pack stream to the output, and its folder,
  // substreams and files to the database, in plan order.
  void pack(std::span<const entry> entries, const std::vector<folder_plan>& plan);
  // Appends `e` as a folder of its own that goes on from the archived folder
  // `from` (see folder_continuation.hpp): its packed bytes copied, then only
  // the bytes after its prefix compressed. Returns false, with nothing
  // written, when it cannot: at level 0, for an entry without content or
  // not longer than the archived file, when `e` does not start with that
  // file (its first bytes differ from the archived ones by CRC: counted by
  // mismatched_prefixes), or when liblzma refuses the encoder's options (or,
  // with one thread, cannot start it). With `prefix_in_place`, the archived
  // packed bytes are not copied: what is appended goes right after them
  // where they lie (archive_appender's in-place continuation), and the
  // folder is recorded as the whole stream.
  bool pack_continued(const entry& e, const folder_continuation& from, bool prefix_in_place = false);
  // Entries pack_continued was given that did not start with the archived
  // file: whoever named them as grown by appends was wrong.
  std::uint64_t mismatched_prefixes() const noexcept { return mismatched_prefixes_; }
  // With one thread: folders found incompressible early (judged before an
  // encoder saw them, or given up by their probe) and stored.
  std::uint64_t given_up_folders() const noexcept { return given_up_folders_; }

 private:
  void pack_serial(std::span<const entry> entries, const folder_plan& folder);
  void pack_parallel(std::span<const entry> entries, const std::vector<folder_plan>& plan);
  void record(std::span<const entry> entries, const folder_plan& folder, const coder_info& coder,
              std::uint64_t pack_size, const std::vector<std::uint32_t>& crcs);

  output_file& out_;
  archive_database& db_;
  compression_options options_;
  lzma2_encoder serial_encoder_;
  std::uint64_t mismatched_prefixes_ = 0;
  std::uint64_t given_up_folders_ = 0;
};

}  // namespace sevenzfs::archive
