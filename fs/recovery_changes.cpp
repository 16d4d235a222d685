// What a failed final commit must keep (recovery_changes.hpp).
#include "recovery_changes.hpp"

#include "archived_bytes.hpp"
#include "archived_tree.hpp"

#include "archive/file_attributes.hpp"

#include <algorithm>
#include <ctime>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

namespace sevenzfs::fs {

namespace {

// Whether the archive would describe `a` and `b` alike (times in its 100 ns units).
bool same_description(const archive::entry& a, const archive::entry& b) {
  return a.path == b.path && a.kind == b.kind && (a.mode & 07777) == (b.mode & 07777) &&
         archive::filetime_from_unix(a.mtime) == archive::filetime_from_unix(b.mtime);
}

// How the archive describes its entries: those with content by stream,
// those without by path (the last of a name wins, as for the mount).
struct archived_descriptions {
  std::vector<std::optional<archive::entry>> by_stream;
  std::unordered_map<std::string, archive::entry> without_data;

  explicit archived_descriptions(const archive::archive_snapshot* archived) {
    if (archived == nullptr) return;
    const auto& db = archived->database();
    by_stream.resize(archived->substream_count());
    const std::timespec unset{};
    for (std::size_t k = 0; k < db.files.size(); ++k) {
      const auto stream = archived->substream_of_file(k);
      auto e = archive::entry_from_file(db.files[k], stream ? archived->substream(*stream).size : 0, unset);
      if (stream)
        by_stream[*stream] = std::move(e);
      else
        without_data.insert_or_assign(e.path, std::move(e));
    }
  }
};

}  // namespace

std::uint64_t bytes_of(const std::vector<archive::entry>& entries) {
  std::uint64_t total = 0;
  for (const auto& e : entries) total += e.size;
  return total;
}

uncommitted collect_uncommitted(inode_table& inodes, const content_services& content,
                                const std::shared_ptr<const archive::archive_snapshot>& archived) {
  const archived_descriptions described(archived.get());
  uncommitted found;
  std::unordered_set<std::string> shown;
  inodes.walk([&](const std::string& path, inode& node) {
    shown.insert(path);
    std::lock_guard data(node.mutex);
    archive::entry e;
    e.path = path;
    e.kind = node.kind;
    e.mode = node.permissions;
    e.mtime = node.mtime;
    const file_content& bytes = node.content;
    const std::uint64_t size = node.size();
    if (!node.is_directory() && bytes.dirty() && size > 0) {
      e.size = size;
      e.content = bytes.commit_source(content, path);
      if (bytes.starts_in_archive()) {
        found.appended.push_back(std::move(e));
        found.appended_streams.push_back(bytes.stream_in(archived.get()));
      } else {
        found.changed.push_back(std::move(e));
      }
      return;
    }
    if (!node.is_directory() && !bytes.dirty() && bytes.archived() && bytes.archived()->size > 0) {
      const auto& where = *bytes.archived();
      const auto stream = bytes.stream_in(archived.get());
      if (stream && described.by_stream[*stream] && same_description(*described.by_stream[*stream], e)) return;
      e.size = where.size;
      e.content = std::make_shared<archived_stream_content>(content.reader, where.snapshot, where.stream, where.size);
      found.copied.push_back(std::move(e));
      found.copied_streams.push_back(stream);
      return;
    }
    const auto it = described.without_data.find(path);
    if (it != described.without_data.end() && same_description(it->second, e)) return;
    found.without_data.push_back(std::move(e));
  });
  // By the path the mount shows an entry at: a stored "./a" is shown as "a".
  if (archived != nullptr) {
    std::unordered_map<std::string, std::size_t> removed_at;  // an archive may hold a name twice
    const auto& files = archived->database().files;
    for (std::size_t k = 0; k < files.size(); ++k) {
      std::string path = shown_path_of(files[k]);
      if (shown.contains(path)) continue;
      auto [at, added] = removed_at.try_emplace(path, found.removed.size());
      if (added) found.removed.push_back({std::move(path), {}});
      if (const auto stream = archived->substream_of_file(k)) found.removed[at->second].streams.push_back(*stream);
    }
  }
  std::ranges::sort(found.removed, {}, &uncommitted::removed_path::path);
  return found;
}

std::vector<std::string> removals_of(const uncommitted& found, const std::vector<bool>& with_copied,
                                     const std::vector<bool>& with_appended) {
  std::unordered_set<std::uint64_t> kept;
  const auto keep = [&](const std::vector<std::optional<std::uint64_t>>& streams, const std::vector<bool>& with) {
    for (std::size_t k = 0; k < streams.size(); ++k) {
      if (!with[k] && streams[k]) kept.insert(*streams[k]);
    }
  };
  keep(found.copied_streams, with_copied);
  keep(found.appended_streams, with_appended);
  // A kept path keeps the directories above it too: without their entries
  // the next mount would show them as directories of mode 0755 (a renamed
  // private directory whose files were left out would become readable).
  std::unordered_set<std::string> staying;
  for (const auto& removed : found.removed) {
    if (std::ranges::none_of(removed.streams, [&](std::uint64_t s) { return kept.contains(s); })) continue;
    for (std::size_t slash = removed.path.find('/'); slash != std::string::npos;
         slash = removed.path.find('/', slash + 1)) {
      staying.insert(removed.path.substr(0, slash));
    }
    staying.insert(removed.path);
  }
  std::vector<std::string> paths;
  for (const auto& removed : found.removed) {
    if (!staying.contains(removed.path)) paths.push_back(removed.path);
  }
  return paths;
}

}  // namespace sevenzfs::fs
