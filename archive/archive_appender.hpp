#pragma once
// The archive a mount commits to. It is a valid 7z at every moment:
//
// - While it does not exist yet, a commit writes the whole archive under a
//   temporary name in the same directory, fsyncs it, renames it into place
//   and fsyncs the directory.
// - Once it exists, a commit appends: old packed streams are never touched.
//   The new folders are compressed into a pending file beside the archive
//   first, so their size P is known; then (1) a copy of the current header
//   goes past both the current end of the file and packs_end + P, fsync,
//   and the start header is re-pointed at it, fsync; (2) the new packs are
//   copied to packs_end, over the old header, fsync; (3) the new header is
//   written right after the new packs (via a place beyond the copy when it
//   would overlap it), fsync, the start header is re-pointed at it, fsync;
//   (4) the file is cut after the new header. A crash at any point leaves
//   the previous archive or the new one, and a finished commit leaves no
//   dead bytes.
//
// For crash tests only: SEVENZFS_TEST_EXIT_AFTER_APPEND_STEP=N makes the
// process _exit(99) right after append step N (1-3).
#include "archive_database.hpp"
#include "archive_reader.hpp"
#include "archive_writer.hpp"
#include "entry.hpp"
#include "output_file.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sevenzfs::archive {

struct commit_request {
  // One per existing substream, in substream order: the entry as the caller
  // shows it now (path, kind, mode, time; no content), or nullopt to keep
  // the stream's last description (a file deleted from the mount stays in
  // the archive under its old name).
  std::vector<std::optional<entry>> archived_streams;
  // Directories and empty files: the whole current list (they have no data,
  // so every commit writes them anew).
  std::vector<entry> entries_without_data;
  // Files whose content goes into new folders.
  std::vector<entry> new_files;
};

struct commit_result {
  // For each of request.new_files: the global substream index it now has.
  std::vector<std::uint64_t> stream_index;
  std::uint64_t input_bytes = 0;  // content bytes of request.new_files
};

class archive_appender {
 public:
  // Reads `path` if it exists (throws archive_error when it is not a valid
  // 7z archive); otherwise the first commit creates it.
  archive_appender(std::string path, write_options options);

  bool exists() const noexcept { return exists_; }
  const archive_database& database() const noexcept { return layout_.db; }
  const std::string& path() const noexcept { return path_; }
  std::uint64_t archive_bytes() const noexcept { return layout_.file_size; }
  // Index of the folder holding global substream `stream`, and its packed size.
  std::pair<std::uint64_t, std::uint64_t> folder_of_stream(std::uint64_t stream) const;
  std::uint64_t stream_count() const noexcept { return layout_.db.substream_sizes.size(); }

  commit_result commit(const commit_request& request);

  // Bytes no header references lie between the packs and the header or
  // after it (left by a crash during an append, or by an older version).
  bool has_dead_space() const noexcept;
  // Moves the header right after the packs and cuts the file there, crash-safely.
  void tidy();

 private:
  archive_database build_database(const commit_request& request, const archive_database& new_part) const;
  void append(const commit_request& request, commit_result& result);
  void place_new_header(output_file& archive, const archive_database& db, std::uint64_t packs_end,
                        std::uint64_t new_packs, const std::function<void()>& write_packs);
  void index_streams();

  std::string path_;
  write_options options_;
  bool exists_ = false;
  archive_layout layout_;
  std::vector<std::uint64_t> first_stream_of_folder_;  // global index of each folder's first substream
  std::vector<std::uint64_t> folder_packed_bytes_;     // each folder's pack streams together
};

}  // namespace sevenzfs::archive
