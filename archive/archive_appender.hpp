#pragma once
// The archive a mount commits to. It is a valid 7z at every moment, and
// every commit leaves the previous state or the next one, whatever happens.
//
// What a commit costs depends on what it changes (see commit()):
//
// - While the archive does not exist, holds nothing, or keeps none of its
//   folders, the commit writes it whole (create_archive): O(new data).
// - In place, when the folders it keeps come first and nothing it drops lies
//   before them: new files only (nothing dropped), drops of the newest
//   folders only (no new files), or the last folder continued by the file
//   it held, grown by appends (a log: its new chunks go over the folder's
//   end marker, and new files after it). The new folders are compressed
//   into a pending file beside the archive first, or were compressed
//   before the commit (commit_request::prepacked_folders, from
//   pending_folders: then the commit compresses nothing), so their size P
//   is known; then (1) a copy of the current header (for a continuation,
//   one that describes the continued folder without its end marker) goes
//   past both the current end of the file and packs_end + P, fsync, and the
//   start header is re-pointed at it, fsync; (2) the new packs are copied
//   (copy_file_range) to packs_end, over the old header, fsync; (3) the new
//   header is written after the new packs (via a place beyond the copy when
//   it would overlap it), fsync, the start header is re-pointed at it,
//   fsync; (4) the file is cut after the new header. O(new data + header).
//   The packed bytes of dropped folders stay in the file, between the packs
//   and the header (dead_bytes()), because the header that stands in for
//   the old one during the commit still uses them.
// - Otherwise the archive is written anew (archive_rewriter.hpp): kept
//   folders copied verbatim, the kept files of folders that lose some
//   decoded and compressed again, new files, header; temporary file and
//   rename. O(archive).
//
// Why dropped folders cannot simply stay where they are: pack streams are
// located by the pack position and the running sum of their sizes, so they
// must be contiguous; and py7zr (0.11 and current) ignores the pack position,
// so nothing may lie between the start header and the first pack stream
// either. Bytes between the last pack stream and the header are read
// correctly by 7-Zip, libarchive and py7zr.
//
// Snapshots: each commit publishes a snapshot of the state it made, read
// through a descriptor of the written file taken before the commit point.
// Snapshots published earlier stay readable as long as they are held: an
// in-place commit never overwrites packed bytes a held earlier snapshot
// needs (it writes the archive anew instead; a continued log's end marker,
// which their decoders never need, is the one byte it writes over), and a
// rewritten archive is a new file (earlier descriptors keep the old one).
//
// A commit takes the descriptor its snapshot reads through before its
// commit point (see output_file::reader): when descriptors run out, the
// commit fails and the archive is as it was. Should publishing the
// snapshot fail after the commit point all the same (memory), the commit
// throws, and so does every later commit: the daemon then keeps what it
// staged for the recovery archive at the unmount, and the next mount reads
// the archive as it is.
//
// For crash tests only: SEVENZFS_TEST_EXIT_AFTER_APPEND_STEP=N makes the
// process _exit(99) right after in-place step N (1-3), and
// SEVENZFS_TEST_FAIL_AFTER_APPEND_STEP=N makes the commit throw there; see
// archive_rewriter.hpp for SEVENZFS_TEST_EXIT_AFTER_REWRITE_STEP.
// SEVENZFS_TEST_FAIL_PUBLISH=N makes the N-th publication of a snapshot,
// counted while it is set, fail after the commit point.
#include "archive_database.hpp"
#include "archive_reader.hpp"
#include "archive_snapshot.hpp"
#include "archive_writer.hpp"
#include "commit_request.hpp"
#include "entry.hpp"
#include "folder_continuation.hpp"
#include "output_file.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sevenzfs::archive {

struct commit_plan;

class archive_appender {
 public:
  // Reads `path` if it exists and is not empty (throws archive_error when it
  // is not a valid 7z archive); otherwise the first commit creates it (over
  // the empty file).
  archive_appender(std::string path, write_options options);

  bool exists() const noexcept { return exists_; }
  // The archive as last committed, with its own descriptor (valid while the
  // file is appended to or replaced); null while there is no archive.
  const std::shared_ptr<const archive_snapshot>& snapshot() const noexcept { return snapshot_; }
  // Valid until the next commit: it lives in the snapshot, which a commit replaces.
  const archive_database& database() const noexcept;
  const std::string& path() const noexcept { return path_; }
  std::uint64_t archive_bytes() const noexcept { return layout_.file_size; }
  // Index of the folder holding global substream `stream`, and its packed size.
  std::pair<std::uint64_t, std::uint64_t> folder_of_stream(std::uint64_t stream) const;
  std::uint64_t stream_count() const noexcept { return database().substream_sizes.size(); }

  // Commits `request` (see the top of this file for what it costs): the
  // archive then holds the kept streams (content unchanged; described as
  // `shown` where given), the entries without data and the new files. A
  // folder that loses some of its files is compressed again with the kept
  // ones, unless it cannot be decoded here: then it stays whole and its
  // dropped streams are reported in result.kept_anyway. Throws
  // archive_error; the archive then is as it was. The request is taken,
  // and used up either way: its descriptions of files go
  // (release_descriptions) before the header is written, which holds them
  // again in the new database.
  commit_result commit(commit_request request);
  // Whether commit() refuses every request until the archive is opened
  // anew (a commit written whose snapshot could not be published, or the
  // path taken by another file): the snapshot may not be what the file holds.
  bool refuses_commits() const noexcept { return !unpublished_.empty(); }

  // Bytes no header references lie between the packs and the header or
  // after it: left by a crash during a commit, or by a commit that dropped
  // the newest folders.
  bool has_dead_space() const noexcept;
  // How many bytes of the file no header references.
  std::uint64_t dead_bytes() const noexcept;
  // Moves the header right after the packs and cuts the file there,
  // crash-safely; not over packed bytes an earlier snapshot that is still
  // held can read (the header then goes after them).
  void tidy();

 private:
  struct earlier_snapshot {
    std::weak_ptr<const archive_snapshot> snapshot;
    std::uint64_t packs_end = 0;  // its packed bytes lie before this offset
  };

  // Whether the state a commit wrote is the same file, and continues the
  // same data, as the one before (see publish_snapshot).
  struct sameness {
    bool file = true;
    bool data = true;
  };
  // Writes the commit one of the three ways: a new archive, in place, anew.
  sameness write(commit_request& request, commit_result& result);
  // Whether the path names a file other than snapshot_'s.
  bool path_names_another_file() const;
  bool can_commit_in_place(const commit_request& request, const commit_plan& plan) const;
  // An appended file that continues the archive's last folder, which it alone held.
  struct in_place_continuation {
    std::size_t new_file = 0;  // in the request
    folder_continuation from;
  };
  std::optional<in_place_continuation> continuation_in_place(const commit_request& request,
                                                             const commit_plan& plan) const;
  // Returns whether the new state's data continues the previous one's (see
  // publish_snapshot); nullopt, with nothing written, when `continued`
  // could not be continued.
  std::optional<bool> commit_in_place(commit_request& request, const commit_plan& plan, commit_result& result,
                                      const in_place_continuation* continued);
  // `standing_last_pack`: the size of the last pack stream in the header
  // that stands in during the commit (step 1), when it is to be shorter.
  void place_new_header(output_file& archive, const archive_database& db, std::uint64_t packs_end,
                        std::uint64_t new_packs, const std::function<void()>& write_packs, std::uint64_t header_floor,
                        header_effort effort, std::optional<std::uint64_t> standing_last_pack = std::nullopt);
  header_location copy_current_header(output_file& archive, std::uint64_t at,
                                      std::optional<std::uint64_t> last_pack_size) const;
  // The end of the packed bytes held earlier snapshots can read (0: none).
  std::uint64_t protected_end() const;
  void index_streams();
  void written(archive_layout layout);
  void publish_snapshot(bool same_file, bool same_data);

  std::string path_;
  write_options options_;
  bool exists_ = false;
  // Where the archive's parts lie. Its database, once published, is
  // snapshot_'s, held once (a million files' database is hundreds of MB):
  // layout_.db is then empty but for its pack_position.
  archive_layout layout_;
  bool database_published_ = false;
  // Why commits stop (empty: they go on): the last commit, written past its
  // commit point, could not be published — the archive holds the new state,
  // the snapshot callers number streams by is the old one's, and the
  // caller's next request would mix them up — or the path names another
  // file now.
  std::string unpublished_;
  // The commit being written is on disk: an in-place one has pointed the start
  // header on, a rewrite has renamed its new archive into place.
  bool past_commit_point_ = false;
  std::vector<std::uint64_t> first_stream_of_folder_;  // global index of each folder's first substream
  std::vector<std::uint64_t> folder_packed_bytes_;     // each folder's pack streams together
  std::shared_ptr<const archive_snapshot> snapshot_;
  std::vector<earlier_snapshot> earlier_snapshots_;  // published for this file, maybe still held
  // The end of the packed bytes the snapshots of snapshot_'s data identity have used.
  std::uint64_t data_end_ = 0;
};

}  // namespace sevenzfs::archive
