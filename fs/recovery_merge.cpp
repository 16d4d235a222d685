// Reading a recovery archive and merging it into the archive (recovery_merge.hpp).
#include "recovery_merge.hpp"

#include "archived_bytes.hpp"
#include "archived_tree.hpp"

#include "archive/archive_error.hpp"
#include "archive/archive_writer.hpp"
#include "archive/file_attributes.hpp"
#include "archive/folder_decoder.hpp"
#include "archive/substream_verifier.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <span>

namespace sevenzfs::fs {

using archive::entry;
using archive::entry_kind;

namespace {

// Folders the commit can copy without compressing them again: one pack
// stream, every file's CRC known, every substream a file's. The daemon
// writes its recovery archives so; decoding and compressing them again took
// 23 s for 45 MB.
std::vector<std::optional<std::size_t>> copyable_folders(const archive::archive_snapshot& snapshot,
                                                         std::vector<copied_folder>& copied) {
  const auto& db = snapshot.database();
  std::vector<std::optional<std::size_t>> slot(snapshot.folder_count());
  for (std::size_t f = 0; f < snapshot.folder_count(); ++f) {
    const auto& layout = snapshot.folder(f);
    bool copyable =
        layout.packs.size() == 1 && db.folders[f].packed_streams().size() == 1 && layout.substream_count > 0;
    for (std::uint64_t s = layout.first_substream; copyable && s < layout.first_substream + layout.substream_count;
         ++s) {
      copyable = db.substream_crcs.at(s).has_value() && snapshot.file_of_substream(s).has_value();
    }
    if (!copyable) continue;
    slot[f] = copied.size();
    copied.push_back({f, std::vector<std::optional<entry>>(layout.substream_count)});
  }
  return slot;
}

// Whether the recovery archive replaces the archive's entry at `path`: the
// same path, one below a path the recovery archive holds as a file or
// symlink (a directory replaced by a file takes its old children along), or
// a file or symlink where the recovery archive has a directory.
bool replaced(const std::string& path, entry_kind kind, const recovered& recovery) {
  if (recovery.kinds.contains(path)) return true;
  if (kind != entry_kind::directory && recovery.parents.contains(path)) return true;
  for (std::size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    const auto it = recovery.kinds.find(path.substr(0, slash));
    if (it != recovery.kinds.end() && it->second != entry_kind::directory) return true;
  }
  return false;
}

}  // namespace

recovered read_recovery(const std::shared_ptr<const archive::archive_snapshot>& snapshot,
                        archive::cached_reader& reader) {
  recovered found;
  const auto& db = snapshot->database();
  const auto slot = copyable_folders(*snapshot, found.copied);
  const std::timespec now{::time(nullptr), 0};
  for (std::size_t k = 0; k < db.files.size(); ++k) {
    const auto stream = snapshot->substream_of_file(k);
    entry e = archive::entry_from_file(db.files[k], stream ? snapshot->substream(*stream).size : 0, now);
    archive::check_archive_path(e.path);  // throws invalid_name: not an archive of ours
    found.kinds.insert_or_assign(e.path, e.kind);
    for (std::size_t slash = e.path.find('/'); slash != std::string::npos; slash = e.path.find('/', slash + 1))
      found.parents.insert(e.path.substr(0, slash));
    if (!stream) {
      found.without_data.push_back(std::move(e));
      continue;
    }
    const std::size_t folder = snapshot->substream(*stream).folder;
    if (slot[folder]) {
      auto& copied = found.copied[*slot[folder]];
      copied.files.at(*stream - snapshot->folder(folder).first_substream) = std::move(e);
      continue;
    }
    e.content = std::make_shared<archived_stream_content>(reader, snapshot, *stream, e.size);
    found.with_data.push_back(std::move(e));
  }
  return found;
}

void verify_copied(const archive::archive_snapshot& from, const std::vector<copied_folder>& copied) {
  const auto& db = from.database();
  std::vector<std::uint8_t> buffer(std::size_t{1} << 20);
  for (const auto& folder : copied) {
    const auto& layout = from.folder(folder.index);
    archive::folder_decoder decoder(from.fd(), from.path(), db.folders[folder.index], layout.packs);
    archive::substream_verifier verifier(from, folder.index);
    for (std::uint64_t left = db.folders[folder.index].unpack_size(); left > 0;) {
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, buffer.size()));
      const std::size_t got = decoder.read(std::span(buffer).first(want));
      if (got == 0) break;
      verifier.consume(from, std::span(buffer).first(got));
      left -= got;
    }
    // Every substream has a CRC (copyable_folders): one cut short stays unchecked.
    for (std::uint64_t s = layout.first_substream; s < layout.first_substream + layout.substream_count; ++s) {
      if (from.verdict(s) != archive::archive_snapshot::crc_verdict::good) {
        throw archive::archive_error(archive::error_kind::corrupt_archive, from.path(),
                                     fmt::format("{}: damaged data (CRC mismatch)", from.substream_name(s)));
      }
    }
  }
}

archive::commit_request merged_request(const archive::archive_appender& archive, const recovered& recovery,
                                       const std::unordered_set<std::string>& removed,
                                       const archive::archive_snapshot& from) {
  archive::commit_request request;
  const auto& snapshot = archive.snapshot();
  if (snapshot) {
    const auto& db = snapshot->database();
    const std::timespec now{::time(nullptr), 0};
    std::vector<bool> kept(snapshot->substream_count(), true);
    for (std::size_t k = 0; k < db.files.size(); ++k) {
      const auto stream = snapshot->substream_of_file(k);
      entry e = archive::entry_from_file(db.files[k], 0, now);
      const bool goes =
          replaced(e.path, e.kind, recovery) || (!removed.empty() && removed.contains(shown_path_of(db.files[k])));
      if (stream) {
        if (goes) kept[*stream] = false;
        continue;
      }
      if (goes) continue;
      try {
        archive::check_archive_path(e.path);
      } catch (const archive::archive_error&) {
        continue;  // as every commit does: a name the mount cannot show is not written again
      }
      request.entries_without_data.push_back(std::move(e));
    }
    for (std::uint64_t stream = 0; stream < kept.size(); ++stream) {
      if (kept[stream]) request.kept_streams.push_back({stream, nullptr});
    }
  }
  request.entries_without_data.insert(request.entries_without_data.end(), recovery.without_data.begin(),
                                      recovery.without_data.end());
  request.new_files = recovery.with_data;
  const auto& db = from.database();
  for (const auto& copied : recovery.copied) {
    const auto& layout = from.folder(copied.index);
    archive::prepacked_folder folder;
    folder.fd = from.fd();
    folder.path = from.path();
    folder.offset = layout.packs.front().offset;
    folder.size = layout.packs.front().size;
    folder.folder = &db.folders[copied.index];
    folder.sizes = std::span(db.substream_sizes).subspan(layout.first_substream, layout.substream_count);
    folder.crcs = std::span(db.substream_crcs).subspan(layout.first_substream, layout.substream_count);
    folder.files = copied.files;
    request.prepacked_folders.push_back(std::move(folder));
  }
  return request;
}

}  // namespace sevenzfs::fs
