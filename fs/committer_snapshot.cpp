// The committer's snapshot of the tree (what a commit takes, what it
// leaves for later) and applying a commit's result to the inodes.
#include "committer_snapshot.hpp"

#include "archive/file_attributes.hpp"

#include <algorithm>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sevenzfs::fs {

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
  // The pending files the streamer let go are removed; decoders the reader
  // kept would hold their space until the daemon ends.
  content_.reader.forget_removed_files();
  // Changes left for later keep the next commit from being skipped.
  if (!taken.left_changes) committed_generation_ = taken.generation;
  note_archive_figures();
}

// The request names the archive's state after the commit whole: it is the
// current one when it adds nothing, keeps every stream as archived and
// lists the same directories and empty files, as archived. Anything else
// (duplicate names the tree shows once, say) counts as a change. So does
// everything while the appender refuses commits: its snapshot may not be
// what the file holds, and the commit must fail (the unmount then saves a
// recovery archive) rather than pass for done.
bool committer::changes_archive(const snapshot& taken) const {
  const archive::commit_request& request = taken.request;
  const archive::archive_snapshot* current = archive_.snapshot().get();
  if (current == nullptr || archive_.refuses_commits() || request.compact || !request.new_files.empty() ||
      !request.prepacked_folders.empty() || request.kept_streams.size() != current->substream_count()) {
    return true;
  }
  if (std::ranges::any_of(request.kept_streams,
                          [](const archive::kept_stream& kept) { return kept.shown != nullptr; })) {
    return true;
  }
  std::unordered_map<std::string_view, const archive::file_info*> without_data;
  for (const archive::file_info& file : current->database().files) {
    if (!file.has_stream) without_data.emplace(file.name, &file);
  }
  if (without_data.size() != request.entries_without_data.size() ||
      without_data.size() + current->substream_count() != current->database().files.size()) {
    return true;
  }
  return std::ranges::any_of(request.entries_without_data, [&](const archive::entry& e) {
    const auto archived = without_data.find(e.path);
    return archived == without_data.end() || !archive::describes_as(e, *archived->second);
  });
}

void committer::apply_unchanged(const snapshot& taken) {
  // Files emptied since they were archived empty: clean again.
  for (const auto& file : taken.emptied) {
    auto node = inodes_.lock(file.number);
    if (node && (*node)->content_changes == file.content_changes) {
      (*node)->content.committed(std::nullopt, (*node)->writers > 0);
    }
  }
  if (!taken.left_changes) committed_generation_ = taken.generation;
}

// Files the commit froze and did not mark committed (changed since, or the
// commit failed) hold their bytes as before it.
void committer::thaw(const snapshot& taken) {
  for (const auto& file : taken.committed) {
    if (auto node = inodes_.lock(file.number)) (*node)->content.thaw();
  }
}

}  // namespace sevenzfs::fs
