#pragma once
// The state pending_folders keeps per folder and per pending file ("lane"),
// shared by its two halves: pending_folders.cpp hands files over, cuts parts
// and writes them; pending_results.cpp describes what is written (snapshots
// for read-back, finished folders for commits).
#include "archive_snapshot.hpp"
#include "output_file.hpp"
#include "pending_part.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace sevenzfs::archive {

// A folder being filled or written, in its lane.
struct pending_folder_record {
  // Without its path: a file's pieces name it in errors while they are
  // compressed, and afterwards nothing here does (a copy per pending file).
  struct file {
    pending_id id = 0;
    std::uint64_t size = 0;
    std::uint64_t written = 0;  // bytes whose packed bytes are written
    std::uint32_t crc = 0;      // of the written bytes
  };

  // Fixed when the first part is cut: the input size its LZMA2 options are
  // chosen for (lzma2_options_for at the pending folders' level), and their
  // property byte (lzma2_property, below). Not the options themselves: 112
  // bytes per one-file folder.
  std::uint64_t options_for_size = 0;
  std::uint64_t size_hint = 0;  // sizes the dictionary of a folder cut into several parts
  std::uint64_t pack_offset = 0;
  std::uint64_t packed_written = 0;
  std::uint64_t input_handed = 0;
  std::uint64_t input_written = 0;
  std::uint64_t parts_cut = 0;
  std::uint64_t first_stream = 0;  // in its lane's snapshot
  bool ended = false;              // its last part is cut
  bool written = false;            // its last part is written
  bool stored = false;
  // It holds one file, whose content was abandoned (entry_content): its
  // parts not started are skipped, so its packed bytes are not to be read
  // or committed, and no other file may join it.
  bool abandoned = false;
  std::uint8_t lzma2_property = 0;  // beside the flags: no padding of its own
  std::vector<file> files;
  std::size_t complete_files = 0;  // a prefix of `files`
  // Sequences of its parts cut and not started: a few at most (the input in
  // flight is bounded), and a vector costs nothing while empty — a batched
  // folder per file must not carry a deque's first block.
  std::vector<std::uint64_t> ready;
};

// A pending file and the folders in it, one after another.
struct pending_lane {
  std::shared_ptr<output_file> file;
  bool batched = false;
  std::string extension;                                       // of the open solid folder
  std::deque<std::shared_ptr<pending_folder_record>> folders;  // not taken; the last may be open
  std::uint64_t streams = 0;                                   // files in `folders`
  std::shared_ptr<pending_folder_record> open;
  // The open solid folder's first file's content: whether it was abandoned
  // while it is the folder's only file (pending_folder_record::abandoned).
  // Weak: the content is not to be kept for this.
  std::weak_ptr<const entry_content> open_first;
  std::uint64_t part_bytes = 0;  // of the open folder
  std::uint64_t cut_bytes = 0;   // of the open folder's input, in parts cut
  std::vector<pending_piece> filling;
  std::uint64_t filling_bytes = 0;
  std::shared_ptr<primer_slot> next_primer;  // filled for the open folder's next part
  std::deque<std::unique_ptr<pending_part>> unwritten;
  bool writing = false;
  // Workers making a primer from parts of this lane not started (taken ahead
  // of them): until they are done, no part is written, so no file whose
  // bytes they read is reported encoded and released.
  unsigned making_primers = 0;
  std::uint64_t last_used = 0;
  std::uint64_t generation = 0;  // bumped at every write
  std::uint64_t snapshot_generation = 0;
  std::shared_ptr<const archive_snapshot> snapshot;
};

}  // namespace sevenzfs::archive
