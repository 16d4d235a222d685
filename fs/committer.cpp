#include "committer.hpp"

#include "archive/archive_error.hpp"
#include "archive/file_attributes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <numeric>
#include <unordered_map>

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

// What a commit takes from the tree: the request, and which inodes the new
// streams and emptied entries belong to, with what tells whether they changed
// after the snapshot (the gate may be let go while the archive is written).
// The request goes to the archive; what applying the result needs of it is
// kept here.
struct committer::snapshot {
  archive::commit_request request;
  std::uint64_t generation = 0;
  struct file {
    inode_number number;
    std::uint64_t content_changes;  // inode::content_changes at the snapshot
    std::uint64_t size = 0;         // of the bytes committed
    // An fsync's file the streamer is still compressing: its sealed bytes
    // stay (file_content::committed_beside_streamer).
    bool beside_streamer = false;
  };
  std::vector<file> committed;              // request.new_files[k] is committed[k]'s content
  std::vector<std::uint64_t> kept_streams;  // request.kept_streams' stream numbers, in order
  std::vector<file> emptied;                // changed files committed as empty
  // Files in the streamer's finished folders: `flat` counts their files
  // folder after folder, as commit_result::prepacked_index does.
  struct streamed_file {
    inode_number number;
    archive::pending_id id;  // its sealed bytes'
    std::size_t flat;
    std::uint64_t size;
  };
  std::vector<streamed_file> streamed;
  bool left_changes = false;  // changed files still open for writing (or still compressing) wait
};

committer::committer(const daemon_options& options, inode_table& inodes, content_services& content, streamer& streamed,
                     logger& log, archive_lock* lock)
    : options_(for_daemon(options, figures_)),
      inodes_(inodes),
      content_(content),
      streamer_(streamed),
      log_(log),
      lock_(lock),
      archive_(options_.archive_path, options_.write) {
  if (archive_.has_dead_space()) {
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

void committer::take_snapshot(const commit_scope& scope, std::uint64_t began, snapshot& taken) {
  taken.generation = generation_.load();
  auto& request = taken.request;
  // The streamer's finished folders, and where each of their files is.
  const taken_folders& taken_now = streamer_.take();
  const auto& folders = taken_now.folders();
  std::vector<std::vector<std::optional<archive::entry>>> streamed_shown(folders.size());
  for (std::size_t f = 0; f < folders.size(); ++f) streamed_shown[f].resize(folders[f].ids.size());

  // Archived streams the tree still shows are kept (with what the tree shows
  // of them now, where that is not what the archive says); every other
  // stream is dropped: removed files leave the archive, and a rewritten
  // file's old copy gives way to the new one.
  // Numbered as the snapshot the inodes refer to numbers them.
  const archive::archive_snapshot* current = archive_.snapshot().get();
  std::vector<char> kept(current != nullptr ? current->substream_count() : 0, 0);
  std::vector<std::shared_ptr<const archive::entry>> shown(kept.size());
  const auto keep = [&](std::uint64_t stream, const archive::entry& e) {
    kept[stream] = 1;
    const auto file = current->file_of_substream(stream);
    if (!file || !archive::describes_as(e, current->database().files[*file])) {
      shown[stream] = std::make_shared<const archive::entry>(e);
    }
  };
  std::vector<std::string> left_without_stream;  // changed files left for later that the archive has no copy of
  const auto leave = [&](archive::entry& e, const std::optional<std::uint64_t>& stream) {
    if (stream) {
      // Its last committed bytes, with the mtime they had (with the tree's,
      // a same-size edit would look unchanged to rsync after a restore);
      // the path and mode are the tree's.
      const auto file = current->file_of_substream(*stream);
      if (file && current->database().files[*file].mtime) {
        e.mtime = archive::unix_time_from_filetime(*current->database().files[*file].mtime);
      }
      keep(*stream, e);
    } else {
      left_without_stream.push_back(std::move(e.path));
    }
  };
  inodes_.walk([&](const std::string& path, inode& node) {
    std::lock_guard data(node.mutex);  // `writers` changes on close, even now
    archive::entry e;
    e.path = path;
    e.kind = node.kind;
    e.mode = node.permissions;
    e.mtime = node.mtime;
    if (node.is_directory()) {
      request.entries_without_data.push_back(std::move(e));
      return;
    }
    file_content& content = node.content;
    const auto stream = content.stream_in(current);
    const bool listed = scope.lists(node.number);
    bool beside_streamer = false;
    if (const sealed_bytes* sealed = content.sealed()) {
      if (const auto place = sealed->id() != 0 ? taken_now.find(sealed->id()) : std::nullopt) {
        e.size = sealed->size();
        streamed_shown[place->folder][place->index] = std::move(e);
        taken.streamed.push_back({node.number, sealed->id(), place->flat, sealed->size()});
        return;
      }
      // Committed by an fsync while the streamer compresses it: the archive
      // has these bytes, and the streamer's copy is for a later commit.
      if (content.archived_as_sealed() && streamer_.streaming()) {
        taken.left_changes = true;
        leave(e, stream);
        return;
      }
      // Still being compressed: the next commit takes it — unless the
      // streamer failed (this commit compresses it as below), or this commit
      // must have it: the file is listed (an fsync's: compressed again now
      // rather than wait for its folder, which may be queued behind
      // everything else in flight; filesystem::finish_folders_of finished
      // the folders of the others), or this commit of everything began
      // before the file was written and the settle queue sealed it after
      // the commit's seal pass (closed meanwhile). Then this commit
      // compresses it as below, beside the streamer
      // (file_content::committed_beside_streamer).
      const bool written_before = scope.reach == commit_scope::breadth::everything && node.dirty_since <= began;
      if (streamer_.streaming()) {
        if (!written_before && !listed) {
          taken.left_changes = true;
          leave(e, stream);
          return;
        }
        beside_streamer = sealed->id() != 0;
      }
    }
    // Changed only since this commit began, while its folders were being
    // finished: the next commit takes it, compressed by the streamer by then.
    if (content.dirty() && node.dirty_since > began && streamer_.streaming()) {
      taken.left_changes = true;
      leave(e, stream);
      return;
    }
    // Files still open for writing wait for a commit of everything, other
    // closed ones for a commit of closed files; until then the archive keeps
    // their last committed copy. Symlinks and closed empty files cost no
    // compression worth waiting for.
    bool include = false;
    if (content.dirty()) {
      const bool costs_nothing = node.kind == node_kind::symlink || (content.size() == 0 && node.writers == 0);
      const bool taken_anyway = listed || costs_nothing;
      switch (scope.reach) {
        case commit_scope::breadth::listed: include = taken_anyway; break;
        case commit_scope::breadth::closed_files: include = taken_anyway || node.writers == 0; break;
        case commit_scope::breadth::everything: include = true; break;
      }
    }
    if (content.dirty() && !include) {
      taken.left_changes = true;
      leave(e, stream);
      return;
    }
    if (stream && !include) keep(*stream, e);
    if (include && content.size() > 0) {
      // Listed before it is frozen: a commit that fails from here on thaws
      // what it lists.
      taken.committed.push_back({node.number, node.content_changes, content.size(), beside_streamer});
      // The streamer's copy is for a later commit, which must not be skipped.
      taken.left_changes = taken.left_changes || beside_streamer;
      if (stream && content.grew_from_archived()) {
        request.appended_files.push_back({request.new_files.size(), *stream});
      }
      e.size = content.size();
      e.content = content.freeze_for_commit(content_, path);
      request.new_files.push_back(std::move(e));
    } else if (include) {
      request.entries_without_data.push_back(std::move(e));  // now empty
      taken.emptied.push_back({node.number, node.content_changes});
    } else if (!content.dirty() && !content.archived()) {
      request.entries_without_data.push_back(std::move(e));  // empty since an earlier commit
    }
  });
  // A file left for later may stand where another one was (saved over it by
  // rename): until the next commit, the archive keeps the one it has at that
  // path, as a rename leaves the old file or the new one, never neither.
  if (!left_without_stream.empty() && current != nullptr) {
    std::unordered_map<std::string_view, std::uint64_t> stream_at;
    for (std::uint64_t stream = 0; stream < current->substream_count(); ++stream) {
      if (const auto file = current->file_of_substream(stream)) {
        stream_at.emplace(current->database().files[*file].name, stream);
      }
    }
    for (const auto& path : left_without_stream) {
      if (const auto at = stream_at.find(path); at != stream_at.end()) kept[at->second] = 1;
    }
  }
  for (std::uint64_t stream = 0; stream < kept.size(); ++stream) {
    if (kept[stream]) {
      request.kept_streams.push_back({stream, std::move(shown[stream])});
      taken.kept_streams.push_back(stream);
    }
  }
  // Files of these folders that no inode shows (deleted, or rewritten since
  // they were sealed) are dropped from them.
  request.prepacked_folders.reserve(folders.size());
  for (std::size_t f = 0; f < folders.size(); ++f) {
    request.prepacked_folders.push_back(archive::prepacked(folders[f], std::move(streamed_shown[f])));
  }
}

void committer::apply(const snapshot& taken, const archive::commit_result& result,
                      const std::shared_ptr<const archive::archive_snapshot>& before) {
  const auto& now = archive_.snapshot();
  applied_ = now;
  // The archive has it: point the inodes at their streams and give back the
  // memory of files nobody is writing. A file removed or changed since the
  // snapshot keeps what it has (the next commit takes the change); one that
  // grew by appends since keeps its bytes but gets the new copy as the one
  // its next commit continues.
  const auto unchanged = [&](const snapshot::file& file) -> std::optional<inode_table::locked_node> {
    auto node = inodes_.lock(file.number);
    if (!node || (*node)->content_changes != file.content_changes) return std::nullopt;
    return std::move(*node);
  };
  for (std::size_t k = 0; k < taken.committed.size(); ++k) {
    auto node = inodes_.lock(taken.committed[k].number);
    if (!node) continue;
    archived_bytes where{now, result.stream_index[k], taken.committed[k].size};
    // (A change that failed counted too, but changed nothing: left dirty,
    // the file would be compressed whole again, its start decoded.)
    if ((*node)->content_changes != taken.committed[k].content_changes && !(*node)->content.unchanged_since_freeze()) {
      (*node)->content.committed_then_appended(std::move(where));
    } else if (taken.committed[k].beside_streamer) {
      (*node)->content.committed_beside_streamer(std::move(where));
    } else {
      const bool appended = (*node)->content.grew_from_archived();
      (*node)->content.committed(std::move(where), (*node)->writers > 0);
      if (appended && (*node)->writers > 0) (*node)->content.trim_committed(content_);
    }
  }
  thaw(taken);
  for (const auto& file : taken.emptied) {
    if (const auto node = unchanged(file)) (*node)->content.committed(std::nullopt, (*node)->writers > 0);
  }
  // Their sealed bytes (or the pending copy) give way to the archive's.
  for (const auto& file : taken.streamed) {
    auto node = inodes_.lock(file.number);
    if (!node) continue;
    const sealed_bytes* sealed = (*node)->content.sealed();
    if (sealed == nullptr || sealed->id() != file.id) continue;  // changed since: it has other bytes now
    (*node)->content.committed(archived_bytes{now, result.prepacked_index[file.flat], file.size}, false);
  }
  streamer_.committed();
  // Files kept from the state before now read through the new one (their
  // stream may have a new number); files whose stream was dropped (deleted
  // but still open) keep reading the old state, which keeps its descriptor.
  if (before) {
    std::vector<std::uint64_t> moved_to(before->substream_count(), UINT64_MAX);
    for (std::size_t k = 0; k < taken.kept_streams.size(); ++k) moved_to[taken.kept_streams[k]] = result.kept_index[k];
    inodes_.for_each([&](inode& node) {
      std::lock_guard data(node.mutex);
      const auto stream = node.content.stream_in(before.get());
      if (!stream || moved_to[*stream] == UINT64_MAX) return;
      node.content.moved(archived_bytes{now, moved_to[*stream], node.content.archived()->size});
    });
    // A rewritten archive is other data: what the reader kept of the old one goes.
    if (result.rewritten) content_.reader.forget(before->data_identity());
  }
  // Changes left for later keep the next commit from being skipped.
  if (!taken.left_changes) committed_generation_ = taken.generation;
  note_archive_figures();
}

// Files the commit froze and did not mark committed (changed since, or the
// commit failed) hold their bytes as before it.
void committer::thaw(const snapshot& taken) {
  for (const auto& file : taken.committed) {
    if (auto node = inodes_.lock(file.number)) (*node)->content.thaw();
  }
}

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
