#pragma once
// Turns the mounted tree into archive commits: a snapshot of what changed
// (a commit request naming every entry and the bytes to compress), the
// archive call, and applying the result to the inodes (which stream now
// holds them; staged memory given back). Also counts changes, so a commit
// with nothing new is not made, and keeps the figures the statistics show.
//
// Most new content arrives compressed already: files sealed for the streamer
// (streamer.hpp) are in its finished folders, which a commit copies into the
// archive; only what was not sealed (files still open, in a commit of
// everything; an fsync's file, see commit_scope.hpp) is compressed by the
// commit itself. A commit takes what changed
// before it began: files that became dirty since (inode::dirty_since) are left
// to the next commit while the streamer runs, so a writer that goes on during
// a commit does not make it compress that writer's files.
//
// The change gate: every operation that changes the namespace or content
// holds it shared (see inode_table.hpp for the whole lock order); a commit
// holds it exclusively to take its snapshot of the tree, so it sees a still
// tree — but only after its preparation (sealing and finishing the streamed
// folders, the long part; for an fsync, its file's folder alone), which runs
// without it while writers go on. Then
// it lets the gate go while it writes the archive (compresses what was not
// streamed, copies the packs, writes the header) and takes it again to apply
// the result, to the files that have not changed since the snapshot. The
// bytes it compresses itself are sealed for it (file_content's
// freeze_for_commit): a writer that changes such a file meanwhile works on a
// copy, and the file takes its bytes back when the commit is over. Commits
// run one at a time (commit_mutex_).
#include "archive_lock.hpp"
#include "commit_scope.hpp"
#include "daemon_options.hpp"
#include "file_content.hpp"
#include "inode_table.hpp"
#include "log.hpp"
#include "result.hpp"
#include "streamer.hpp"

#include "archive/archive_appender.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <string>

namespace sevenzfs::fs {

// Figures of commits; written by the committing thread, read by statistics.
struct commit_figures {
  std::atomic<bool> running{false};
  std::atomic<std::uint64_t> pending_bytes{0};
  std::atomic<std::uint64_t> done_bytes{0};
  std::atomic<std::uint64_t> commits{0};
  std::atomic<std::uint64_t> failed_commits{0};
  std::atomic<std::int64_t> last_time{0};  // unix seconds at the end of the last commit
  std::atomic<std::uint64_t> last_duration_us{0};
  std::atomic<std::uint64_t> last_files{0};
  std::atomic<std::uint64_t> last_bytes{0};
  std::atomic<std::uint64_t> last_continued_bytes{
      0};                                        // of last_bytes: grown files' archived prefixes not compressed again
  std::atomic<std::int64_t> last_error_time{0};  // unix seconds of the last failure
  // The archive on disk, so statistics need not touch a database a commit
  // may be replacing.
  std::atomic<std::uint64_t> archive_bytes{0};
  std::atomic<std::uint64_t> packed_bytes{0};
  std::atomic<std::uint64_t> dead_bytes{0};
  std::atomic<std::uint64_t> archived_files{0};
  std::atomic<std::uint64_t> archived_bytes{0};

  // The last failure's message; a later success does not clear it.
  void set_error(std::string error);
  std::string error() const;

 private:
  mutable std::mutex error_mutex_;
  std::string last_error_;
};

// How far the way to a durable archive is: bytes compressed and written of
// bytes pending — the streamer's (handed over and not yet committed) and
// those the running commit compresses itself. Under 100 % while anything is
// pending; both reset to 0 once everything is committed.
struct commit_progress {
  std::uint64_t pending_bytes = 0;
  std::uint64_t done_bytes = 0;
  double percent = 100.0;
};
commit_progress progress_of(const commit_figures& commits, const stream_figures& streamed);

class committer {
 public:
  // Opens (or prepares to create) the archive; throws archive::archive_error
  // when it cannot be used. `lock` (if any) follows the archive after each
  // commit.
  committer(const daemon_options& options, inode_table& inodes, content_services& content, streamer& streamed,
            logger& log, archive_lock* lock);
  committer(const committer&) = delete;
  committer& operator=(const committer&) = delete;

  std::shared_lock<std::shared_mutex> change_gate() { return std::shared_lock(gate_); }
  // Something changed: the next commit has work.
  void changed() noexcept { generation_.fetch_add(1, std::memory_order_relaxed); }
  bool has_changes() const;
  // Changes so far (it only grows); with commits_total, tells whether the
  // tree's figures can have moved.
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_relaxed); }

  // Commits what `scope` covers; on failure the archive keeps its last commit
  // and everything stays staged. `header`: quick when a later commit will
  // replace this one's header (see archive::lzma2_header_options). `prepare`
  // runs first, without the gate; `succeeded`, after a commit that succeeded
  // (or found nothing to do), also without the gate but before any other
  // commit.
  result<void> commit(const commit_scope& scope, archive::header_effort header,
                      const std::function<void()>& prepare = {}, const std::function<void()>& succeeded = {});
  // Writes the archive anew without dead bytes (what files removed or
  // replaced left behind); nothing to do when there are none.
  result<void> compact();

  // The archive as last committed; only while no commit runs (at start-up,
  // after the last one).
  const archive::archive_appender& archive() const noexcept { return archive_; }
  // The archive state the tree's files refer to (null before the first
  // commit); stable while the change gate is held.
  const std::shared_ptr<const archive::archive_snapshot>& applied_snapshot() const noexcept { return applied_; }
  const commit_figures& figures() const noexcept { return figures_; }

 private:
  struct snapshot;
  // `began`: the change generation when the commit began.
  // Fills `taken` (empty), which lists what it froze even if it throws.
  void take_snapshot(const commit_scope& scope, std::uint64_t began, snapshot& taken);
  void apply(const snapshot& taken, const archive::commit_result& result,
             const std::shared_ptr<const archive::archive_snapshot>& before);
  // A snapshot whose archive would be the one there is (an fsync of a file
  // committed already, a flush after a chmod to the same mode) is applied
  // without writing it.
  bool changes_archive(const snapshot& taken) const;
  void apply_unchanged(const snapshot& taken);
  result<void> commit_serialized(const commit_scope& scope, archive::header_effort header,
                                 const std::function<void()>& prepare);
  // `gate` holds gate_ exclusively, on return too.
  // `started`: when the commit began, its preparation (finishing the
  // streamer's folders) included: the duration it reports is the caller's wait.
  result<void> commit_locked(std::unique_lock<std::shared_mutex>& gate, const commit_scope& scope, bool compact,
                             archive::header_effort header, std::uint64_t began,
                             std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now());
  bool compaction_due() const;
  void report_kept_anyway(const archive::commit_result& result, const archive::archive_snapshot& before);
  void note_archive_figures();
  // Locks the archive the path names now (archive_lock::follow_archive);
  // EBUSY (another daemon has it) stops the commits.
  result<void> follow_lock();
  bool has_changes_locked() const;
  void thaw(const snapshot& taken);
  // `taken`: the failed commit's snapshot, if it got that far.
  result<void> failed(std::unique_lock<std::shared_mutex>& gate, const snapshot* taken, int error,
                      std::string_view what);

  commit_figures figures_;  // before options_: its progress callback points here
  daemon_options options_;
  inode_table& inodes_;
  content_services& content_;
  streamer& streamer_;
  logger& log_;
  archive_lock* lock_;
  std::string lock_lost_;        // why the archive is no longer ours alone (guarded by gate_)
  bool follow_pending_ = false;  // the last follow failed, not for another daemon: again before writing
  archive::archive_appender archive_;

  std::mutex commit_mutex_;  // before gate_
  mutable std::shared_mutex gate_;
  std::atomic<std::uint64_t> generation_{0};
  std::uint64_t committed_generation_ = 0;                    // guarded by gate_
  std::shared_ptr<const archive::archive_snapshot> applied_;  // guarded by gate_
};

}  // namespace sevenzfs::fs
