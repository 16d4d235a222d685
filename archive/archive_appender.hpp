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
#include "archive_snapshot.hpp"
#include "archive_writer.hpp"
#include "entry.hpp"
#include "output_file.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sevenzfs::archive {

// An archived stream the next state keeps.
struct kept_stream {
  std::uint64_t stream = 0;    // its index in the archive as it is now
  std::optional<entry> shown;  // path, kind, mode, time as the caller shows it now; nullopt: unchanged
};

struct commit_request {
  // Ascending by stream. Every archived stream not listed is dropped: gone
  // from the archive's listing after the commit.
  std::vector<kept_stream> kept_streams;
  // Directories and empty files: the whole current list (they have no data,
  // so every commit writes them anew).
  std::vector<entry> entries_without_data;
  // Files whose content goes into new folders.
  std::vector<entry> new_files;
  // Write the archive anew even if it could be appended to: no dead bytes.
  bool compact = false;
};

struct commit_result {
  std::vector<std::uint64_t> stream_index;  // for each of request.new_files: its substream now
  std::vector<std::uint64_t> kept_index;    // for each of request.kept_streams: its substream now
  std::uint64_t input_bytes = 0;            // content bytes of request.new_files
  std::uint64_t reencoded_bytes = 0;        // kept content compressed again (folders that lost files)
  bool rewritten = false;                   // the archive was written anew (temporary file, rename)
};

class archive_appender {
 public:
  // Reads `path` if it exists (throws archive_error when it is not a valid
  // 7z archive); otherwise the first commit creates it.
  archive_appender(std::string path, write_options options);

  bool exists() const noexcept { return exists_; }
  // The archive as last committed, with its own descriptor (valid while the
  // file is appended to or replaced); null while there is no archive.
  const std::shared_ptr<const archive_snapshot>& snapshot() const noexcept { return snapshot_; }
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
  // How many bytes of the file no header references.
  std::uint64_t dead_bytes() const noexcept;
  // Moves the header right after the packs and cuts the file there, crash-safely.
  void tidy();

 private:
  archive_database build_database(const commit_request& request, const archive_database& new_part) const;
  void append(const commit_request& request, commit_result& result);
  void place_new_header(output_file& archive, const archive_database& db, std::uint64_t packs_end,
                        std::uint64_t new_packs, const std::function<void()>& write_packs);
  void index_streams();
  void publish_snapshot(bool same_data);

  std::string path_;
  write_options options_;
  bool exists_ = false;
  archive_layout layout_;
  std::vector<std::uint64_t> first_stream_of_folder_;  // global index of each folder's first substream
  std::vector<std::uint64_t> folder_packed_bytes_;     // each folder's pack streams together
  std::shared_ptr<const archive_snapshot> snapshot_;
};

}  // namespace sevenzfs::archive
