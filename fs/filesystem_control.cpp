// The filesystem's commits, its controls (flush, compact, unmount) and the
// figures behind its statistics: apart from the FUSE operations in
// filesystem.cpp.
#include "filesystem.hpp"

#include "service_status.hpp"

namespace sevenzfs::fs {

// ---- commits -----------------------------------------------------------------

// The commit's long part runs before it takes the change gate: closed files
// are sealed and their folders finished while writers go on (for listed
// files alone, at most their folders: see finish_folders_of). A last
// commit, or an unmount's (writes refused), lets the idle encoders go
// before the header, the daemon's peak; should the mount go on, they are
// made anew.
result<void> filesystem::commit(const commit_scope& scope, bool last) {
  // The header of a commit the mount goes on after is replaced by the next
  // one: compressed quickly (an fsync on an archive of 23,000 files: 0.19 s
  // instead of 0.46); the last commit's stays, and gets the best.
  const bool final = last || closing_.load();
  return committer_.commit(
      scope, final ? archive::header_effort::best : archive::header_effort::quick,
      [this, last, &scope] {
        if (scope.takes_closed_files()) {
          sealer_.seal_closed_files();
          streamer_.wait_for_hand_overs();
          streamer_.finish();
        } else {
          finish_folders_of(scope.listed);
        }
        if (last || closing_.load()) streamer_.release_encoders();
      },
      [this, last] {
        if (!last && !closing_.load()) resume_streaming();
      });
}

namespace {

// The files an fsync lists that the streamer has and has not finished are
// compressed again by the fsync's commit, up to this many bytes in all
// (about a second of a core at level 5), and the streamer's copy replaces
// the commit's at a later commit (file_content::committed_beside_streamer):
// their folders may be queued behind everything else in flight. A file
// closed, then fsynced behind a 266 MB `tar x` waited 9-23 s for its
// folder, 0.2-0.7 s compressed again. The folders of the others (a large
// file, which the streamer compresses on every thread; the rest of a
// directory's thousands of new files) are finished and waited for.
constexpr std::uint64_t kFsyncCompressesAgainBytes = 4u << 20;

}  // namespace

// The listed files the streamer has: once handed over (the compressor may
// be making room for them), the folders of those the commit does not
// compress again are finished (a solid one ends early: the commit needs it
// whole).
void filesystem::finish_folders_of(const std::vector<inode_number>& files) {
  std::vector<archive::pending_id> ids;
  const auto collect = [&] {
    ids.clear();
    bool on_the_way = false;
    std::uint64_t again = 0;
    for (const inode_number number : files) {
      auto node = inodes_.lock(number);
      if (!node) continue;
      const sealed_bytes* sealed = (*node)->content.sealed();
      if (sealed == nullptr) continue;
      if (sealed->id() == 0) {
        on_the_way = true;
      } else if (again + sealed->size() < kFsyncCompressesAgainBytes) {
        again += sealed->size();
      } else {
        ids.push_back(sealed->id());
      }
    }
    return on_the_way;
  };
  // Not wait_for_hand_overs: files sealed one after another (a `tar x`
  // going on) may keep it waiting long after these files' hand-overs. A
  // hand-over that failed (streaming stopped) leaves the file's id 0: the
  // commit compresses it itself.
  bool on_the_way = collect();
  while (on_the_way && streamer_.wait_for_a_hand_over(std::chrono::milliseconds(100))) on_the_way = collect();
  if (!ids.empty()) streamer_.finish_folders_of(ids);
}

// Streaming stopped at a failure (a full disk, the file size limit) starts
// again after a commit that succeeded, once every file handed to the failed
// compressor is committed: until then a file still holds its id there (a
// file sealed, then opened for writing again, is left out of a commit of
// closed files), and a commit that found it in no finished folder would
// wait for a compression that never ends. Sealing needs streaming (looked
// at under the change gate), so no file is sealed between the look and the
// resume. Runs after the commit, before any other (a compaction's would
// read released bytes through the compressor), but outside the change gate:
// stopping the failed compressor waits for the parts its workers are in,
// which writers should not wait for.
void filesystem::resume_streaming() {
  if (!streamer_.resumable()) return;
  bool sealed = false;
  inodes_.for_each([&](inode& node) {
    std::lock_guard data(node.mutex);
    sealed = sealed || node.content.sealed() != nullptr;
  });
  if (!sealed) {
    streamer_.resume();
    content_.reader.forget_removed_files();  // the failed compressor's pending files: their space
  }
}

void filesystem::start_threads() {
  streamer_.start([this] { return sealer_.workers_allowed(); });
  sealer_.start();
  scheduler_ = std::make_unique<commit_scheduler>([this](const commit_scope& scope) { return commit(scope); },
                                                  [this] { return committer_.has_changes(); },
                                                  std::chrono::seconds(options_.flush_interval_seconds));
}

result<void> filesystem::commit_and_wait(const commit_scope& scope) {
  return scheduler_ ? scheduler_->commit_and_wait(scope) : commit(scope);
}

result<void> filesystem::commit_closed_files() { return commit_and_wait(commit_scope::closed_files()); }

result<void> filesystem::commit_everything() { return commit_and_wait(commit_scope::everything()); }

result<void> filesystem::fsync_file(inode_number number) { return commit_and_wait(commit_scope::of({number})); }

// The directory's names are in the archive once its files are: those the
// archive has a copy of already are (as the last commit had them: ext4's
// directory fsync does not write a file's data either), those it has none
// of are listed.
result<void> filesystem::fsync_directory(inode_number number) {
  std::vector<inode_number> children;
  auto listed = inodes_.list(number, 0, [&](std::string_view, const struct stat& st, off_t) {
    if (S_ISREG(st.st_mode)) children.push_back(st.st_ino);
    return true;
  });
  if (!listed) return std::unexpected(listed.error());
  std::vector<inode_number> new_files;
  for (const inode_number child : children) {
    auto node = inodes_.lock(child);
    if (node && (*node)->content.dirty() && !(*node)->content.archived()) new_files.push_back(child);
  }
  return commit_and_wait(commit_scope::of(std::move(new_files)));
}

result<void> filesystem::compact() {
  if (options_.read_only) return failure(EROFS, "a read-only mount does not write the archive");
  if (auto committed = commit_everything(); !committed) return committed;
  return committer_.compact();
}

result<void> filesystem::final_commit() {
  if (scheduler_) scheduler_->stop();
  if (options_.read_only) return {};
  if (!committer_.has_changes()) return {};
  return commit(commit_scope::everything(), true);
}

result<saved_changes> filesystem::save_for_recovery() {
  sealer_.bring_back();
  return save_uncommitted(inodes_, content_, committer_.archive().snapshot(), options_, log_);
}

// ---- extended attributes -------------------------------------------------------

result<std::optional<std::string>> filesystem::file_state(inode_number number) {
  auto gate = committer_.change_gate();  // the applied snapshot is stable
  auto node = inodes_.lock(number);
  if (!node) return std::unexpected(node.error());
  // The kernel answers ENODATA for a symlink's user. attributes without
  // asking the daemon; a caller that asks directly gets the same answer.
  if ((*node)->kind == node_kind::symlink) return std::optional<std::string>();
  return std::optional<std::string>(file_state_json(**node, committer_.applied_snapshot().get()));
}

std::string filesystem::status_text() const {
  const auto staged = store_.stats();
  return service_status_text(committer_.figures(), streamer_.figures(), staged.files, staged.bytes);
}

tree_figures filesystem::figures_of_tree() {
  // A scan of the whole tree: done again only when something changed.
  const std::pair key{committer_.generation(), committer_.figures().commits.load()};
  std::lock_guard lock(tree_figures_mutex_);
  if (tree_figures_key_ != key) {
    tree_figures_ = inodes_.figures();
    tree_figures_key_ = key;
  }
  return tree_figures_;
}

result<void> filesystem::unmount_control() {
  closing_ = true;
  // A change that passed the gate just before closing_ was set may come
  // after the commit began, which leaves it to the next one: commit until
  // nothing is left (no change can come in any more).
  for (int round = 0; round == 0 || (round < 4 && committer_.has_changes()); ++round) {
    if (auto committed = commit_everything(); !committed) {
      closing_ = false;  // still mounted, nothing lost: free space and try again
      return committed;
    }
  }
  if (!detach_) return {};
  log_.info("unmounting on request: {}",
            options_.read_only ? "read-only, nothing to commit" : "everything is committed");
  return detach_();
}

}  // namespace sevenzfs::fs
