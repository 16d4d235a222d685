#include "committer_snapshot.hpp"

#include "archive/archive_error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <numeric>

namespace sevenzfs::fs {

namespace {

// The compression settings of the daemon (daemon_write_options), with
// progress going to the statistics.
daemon_options for_daemon(daemon_options options, commit_figures& figures) {
  options.write = daemon_write_options(options);
  options.write.compression.progress = [&figures](std::uint64_t bytes) {
    figures.done_bytes.fetch_add(bytes, std::memory_order_relaxed);
  };
  return options;
}

}  // namespace

committer::committer(const daemon_options& options, inode_table& inodes, content_services& content, streamer& streamed,
                     logger& log, archive_lock* lock)
    : options_(for_daemon(options, figures_)),
      inodes_(inodes),
      content_(content),
      streamer_(streamed),
      log_(log),
      lock_(lock),
      archive_(options_.archive_path, options_.write) {
  if (archive_.has_dead_space() && options_.read_only) {
    log_.info("{}: {} dead bytes after the last folder are left as they are (read-only)", options_.archive_path,
              archive_.dead_bytes());
  } else if (archive_.has_dead_space()) {
    log_.info(
        "{}: trimming {} dead bytes after the last folder (files removed from the end, or an interrupted "
        "commit)",
        options_.archive_path, archive_.dead_bytes());
    archive_.tidy();
  }
  applied_ = archive_.snapshot();
  note_archive_figures();
}

bool committer::has_changes() const {
  std::shared_lock gate(gate_);
  return has_changes_locked();
}

bool committer::has_changes_locked() const { return generation_.load() != committed_generation_ || !applied_; }

result<void> committer::commit(const commit_scope& scope, archive::header_effort header,
                               const std::function<void()>& prepare, const std::function<void()>& succeeded) {
  std::lock_guard serial(commit_mutex_);
  auto committed = commit_serialized(scope, header, prepare);
  if (committed && succeeded) succeeded();
  return committed;
}

// Under commit_mutex_.
result<void> committer::commit_serialized(const commit_scope& scope, archive::header_effort header,
                                          const std::function<void()>& prepare) {
  const auto started = std::chrono::steady_clock::now();
  const std::uint64_t began = generation_.load();
  if (prepare) {
    if (!has_changes()) return {};
    figures_.running = true;  // the preparation is the commit's longest part
    prepare();
  }
  std::unique_lock gate(gate_);
  if (!has_changes_locked()) {
    figures_.running = false;
    return {};  // nothing to write, and no commit to count
  }
  if (auto committed = commit_locked(gate, scope, false, header, began, started); !committed) return committed;
  if (!compaction_due()) return {};
  log_.info("{}: {} of {} bytes are dead; compacting", options_.archive_path, archive_.dead_bytes(),
            archive_.archive_bytes());
  // With the commit's own scope: an fsync's compaction does not compress
  // every closed file the streamer has not been given yet.
  return commit_locked(gate, scope, true, header, began);
}

result<void> committer::compact() {
  std::lock_guard serial(commit_mutex_);
  std::unique_lock gate(gate_);
  if (!archive_.exists() || archive_.dead_bytes() == 0) return {};  // nothing to reclaim
  return commit_locked(gate, commit_scope::closed_files(), true, archive::header_effort::best, generation_.load());
}

bool committer::compaction_due() const {
  if (options_.compact_at_percent == 0 || !archive_.exists()) return false;
  return archive_.dead_bytes() * 100 > archive_.archive_bytes() * options_.compact_at_percent;
}

result<void> committer::commit_locked(std::unique_lock<std::shared_mutex>& gate, const commit_scope& scope,
                                      bool compact, archive::header_effort header, std::uint64_t began,
                                      std::chrono::steady_clock::time_point started) {
  if (follow_pending_) {
    if (auto followed = follow_lock(); !followed)
      return failed(gate, nullptr, followed.error().code, followed.error().message);
    follow_pending_ = false;
  }
  if (!lock_lost_.empty()) return failed(gate, nullptr, EBUSY, lock_lost_);
  // Whatever happens while the gate is let go, it is held again on return.
  struct relock {
    std::unique_lock<std::shared_mutex>& gate;
    ~relock() {
      if (!gate.owns_lock()) gate.lock();
    }
  } held_again{gate};
  std::optional<snapshot> frozen;
  try {
    snapshot& taken = frozen.emplace();
    take_snapshot(scope, began, taken);
    taken.request.compact = compact;
    taken.request.header = header;
    if (!changes_archive(taken)) {
      // Nothing written and no commit counted: any reader of a file may
      // fsync it in a loop, and each commit would rewrite the header.
      apply_unchanged(taken);
      figures_.running = false;
      log_.debug("{}: the archive has everything this commit takes: nothing written", options_.archive_path);
      return {};
    }
    // A log grown by appends is compressed from its archived end on: its
    // archived bytes are not pending (25 MB read pending for 0.2 MB of lines).
    std::uint64_t pending =
        std::accumulate(taken.request.new_files.begin(), taken.request.new_files.end(), std::uint64_t{0},
                        [](std::uint64_t total, const archive::entry& e) { return total + e.size; });
    if (const auto& current = archive_.snapshot()) {
      const auto& archived_sizes = current->database().substream_sizes;
      for (const auto& appended : taken.request.appended_files) {
        pending -= std::min(pending, archived_sizes.at(appended.stream));
      }
    }
    figures_.pending_bytes = pending;
    figures_.done_bytes = 0;
    figures_.running = true;
    const auto before = archive_.snapshot();
    // The snapshot's bytes are frozen: writers may go on meanwhile.
    gate.unlock();
    const auto result = archive_.commit(std::move(taken.request));
    if (!gate.owns_lock()) gate.lock();
    apply(taken, result, before);
    // A commit that created the archive or wrote it anew made a new file:
    // a daemon mounting it under another name must find it locked.
    if (auto followed = follow_lock(); !followed && followed.error().code != EBUSY) {
      follow_pending_ = true;  // not lockable now (descriptors ran out): before the next commit writes
      log_.warning("{}: {}; tried again before the next commit", options_.archive_path, followed.error().message);
    }
    figures_.running = false;
    figures_.pending_bytes = 0;
    figures_.done_bytes = 0;
    if (before) report_kept_anyway(result, *before);

    const auto elapsed = std::chrono::steady_clock::now() - started;
    const std::uint64_t streamed =
        std::accumulate(taken.streamed.begin(), taken.streamed.end(), std::uint64_t{0},
                        [](std::uint64_t total, const snapshot::streamed_file& file) { return total + file.size; });
    log_.debug(
        "{}: committed {} new bytes ({} of them compressed by the streamer, {} archived before and continued, "
        "not compressed again), {} packed bytes copied, {} kept bytes compressed again, {} in {:.3f} s",
        options_.archive_path, result.input_bytes, streamed, result.continued_bytes, result.copied_bytes,
        result.reencoded_bytes, result.rewritten ? "archive written anew" : "in place",
        std::chrono::duration<double>(elapsed).count());
    if (result.mismatched_prefixes > 0) {
      // The daemon named files as grown by appends only that were written
      // before their end too: the archive is right (they were compressed
      // whole), the daemon's tracking of them is not.
      log_.warning(
          "{}: files taken for grown by appends only did not start with their archived copy "
          "(compressed whole): {}",
          options_.archive_path, result.mismatched_prefixes);
    }
    figures_.commits.fetch_add(1);
    figures_.last_time = static_cast<std::int64_t>(::time(nullptr));
    figures_.last_duration_us =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
    figures_.last_files = taken.committed.size() + taken.streamed.size();
    figures_.last_bytes = result.input_bytes;
    figures_.last_continued_bytes = result.continued_bytes;
    return {};
  } catch (const archive::archive_error& e) {
    return failed(gate, frozen ? &*frozen : nullptr, e.error_number(), e.what());
  } catch (const std::exception& e) {
    return failed(gate, frozen ? &*frozen : nullptr, EIO, e.what());
  }
}

// Logged here, once per commit: every caller waiting for this commit gets
// its errno without a message, so the failure is not logged again per caller.
// Another daemon that took the new archive first (between the rename and
// now) writes it too, so this one commits no more: what it stages goes to
// the recovery archive at the unmount.
result<void> committer::follow_lock() {
  if (lock_ == nullptr) return {};
  auto followed = lock_->follow_archive();
  if (!followed && followed.error().code == EBUSY && lock_lost_.empty()) {
    lock_lost_ = fmt::format("{}; no commit is made any more", followed.error().message);
    log_.error("{}: {}", options_.archive_path, lock_lost_);
  }
  return followed;
}

result<void> committer::failed(std::unique_lock<std::shared_mutex>& gate, const snapshot* taken, int error,
                               std::string_view what) {
  if (!gate.owns_lock()) gate.lock();
  if (taken) thaw(*taken);
  figures_.running = false;
  figures_.failed_commits.fetch_add(1);
  std::string message =
      fmt::format("commit to {} failed, the archive keeps its last commit: {}", options_.archive_path, what);
  log_.error("{}", message);
  figures_.set_error(std::move(message));
  figures_.last_error_time = static_cast<std::int64_t>(::time(nullptr));
  return failure(error);
}

}  // namespace sevenzfs::fs
