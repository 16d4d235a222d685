#include "pending_folders.hpp"

#include "archive_error.hpp"
#include "archive_writer.hpp"
#include "pending_lane.hpp"

#include <fcntl.h>

#include <cerrno>

namespace sevenzfs::archive {

namespace {

coder_info coder_of(const pending_folder_record& folder) {
  if (folder.stored) return {kMethodCopy, {}};
  return {kMethodLzma2, {folder.lzma2_property}};
}

}  // namespace

// `last`: the graph of the folder described before, shared when it fits
// (folders of one lane mostly have one coder and one dictionary size) without
// going through the process's table and its lock.
folder_info pending_folders::describe(const pending_folder_record& folder,
                                      std::shared_ptr<const folder_graph>& last) const {
  const coder_info coder = coder_of(folder);
  if (!last || last->coders.front() != coder) last = one_coder_graph(coder);
  return folder_info(last, {folder.input_written});
}

// The lane's first `folders` folders, as written so far, with the files
// whose bytes are all written. Without file names (streams are named by
// number): whoever reads a file names it in its errors (the mount, and the
// packer through about_file), and a copy of every pending path, rebuilt at
// every write, would cost more than the records.
std::shared_ptr<const archive_snapshot> pending_folders::snapshot_of(const pending_lane& lane,
                                                                     std::size_t folders) const {
  archive_database db;
  // Sized first: with a folder per file, growing these by doubling would
  // hold up to three times their size at once.
  std::size_t files = 0;
  for (std::size_t k = 0; k < folders && lane.folders[k]->complete_files != 0; ++k) {
    files += lane.folders[k]->complete_files;
  }
  db.pack_sizes.reserve(folders);
  db.folders.reserve(folders);
  db.substream_counts.reserve(folders);
  db.substream_sizes.reserve(files);
  db.substream_crcs.reserve(files);
  std::shared_ptr<const folder_graph> graph;
  for (std::size_t k = 0; k < folders; ++k) {
    const auto& folder = *lane.folders[k];
    if (folder.complete_files == 0) break;
    if (k == 0) db.pack_position = folder.pack_offset - kStartHeaderSize;
    db.pack_sizes.push_back(folder.packed_written);
    db.folders.push_back(describe(folder, graph));
    db.substream_counts.push_back(folder.complete_files);
    for (std::size_t f = 0; f < folder.complete_files; ++f) {
      db.substream_sizes.push_back(folder.files[f].size);
      db.substream_crcs.emplace_back(folder.files[f].crc);
    }
  }
  unique_fd fd(::fcntl(lane.file->fd(), F_DUPFD_CLOEXEC, 0));
  if (!fd) throw_io_error(lane.file->current_path(), "cannot open pending file", errno);
  return archive_snapshot::from(std::move(fd), archive_path_, std::move(db));
}

const std::shared_ptr<const archive_snapshot>& pending_folders::lane_snapshot(pending_lane& lane) {
  if (!lane.snapshot || lane.snapshot_generation != lane.generation) {
    lane.snapshot = snapshot_of(lane, lane.folders.size());
    lane.snapshot_generation = lane.generation;
  }
  return lane.snapshot;
}

std::optional<pending_location> pending_folders::locate(pending_id id) {
  std::lock_guard lock(mutex_);
  const auto found = files_.find(id);
  if (found == files_.end()) return std::nullopt;
  const file_place& place = found->second;
  if (place.index >= place.folder->complete_files) return std::nullopt;
  return pending_location{lane_snapshot(*place.lane), place.folder->first_stream + place.index};
}

std::vector<finished_folder> pending_folders::take() {
  std::lock_guard lock(mutex_);
  throw_if_failed();
  std::vector<finished_folder> taken;
  // Each lane's written folders: a prefix of them (written in lane order).
  const auto written_prefix = [](const pending_lane& lane) {
    std::size_t count = 0;
    while (count < lane.folders.size() && lane.folders[count]->written) ++count;
    return count;
  };
  std::size_t written = 0;
  for (const auto& lane : lanes_) written += written_prefix(*lane);
  taken.reserve(written);
  for (auto& lane : lanes_) {
    const std::size_t count = written_prefix(*lane);
    if (count == 0) continue;
    const auto snapshot = snapshot_of(*lane, count);
    for (std::size_t k = 0; k < count; ++k) {
      const auto& folder = *lane->folders[k];
      finished_folder out;
      out.file = lane->file;
      out.packed = {folder.pack_offset, folder.packed_written};
      out.ids.reserve(folder.files.size());
      for (const auto& file : folder.files) {
        out.ids.push_back(file.id);
        files_.erase(file.id);
      }
      out.snapshot = snapshot;
      out.index = k;
      out.first_stream = folder.first_stream;
      taken.push_back(std::move(out));
    }
    lane->folders.erase(lane->folders.begin(), lane->folders.begin() + static_cast<std::ptrdiff_t>(count));
    lane->streams = 0;
    for (auto& folder : lane->folders) {
      folder->first_stream = lane->streams;
      lane->streams += folder->files.size();
    }
    lane->snapshot.reset();
  }
  // A lane with nothing left is done with: its file goes when the taken folders let go of it.
  std::erase_if(lanes_,
                [](const auto& lane) { return lane->folders.empty() && lane->unwritten.empty() && !lane->writing; });
  return taken;
}

prepacked_folder prepacked(const finished_folder& folder, std::vector<std::optional<entry>> files) {
  prepacked_folder out;
  out.fd = folder.file->fd();
  out.path = folder.file->current_path();
  out.offset = folder.packed.offset;
  out.size = folder.packed.size;
  out.folder = &folder.folder();
  out.sizes = folder.sizes();
  out.crcs = folder.crcs();
  out.files = std::move(files);
  return out;
}

pending_progress pending_folders::progress() const {
  std::lock_guard lock(mutex_);
  return progress_;
}

pending_id pending_folders::next_id() const {
  std::lock_guard lock(mutex_);
  return next_id_;
}

std::uint64_t pending_folders::peak_input_bytes() const {
  std::lock_guard lock(mutex_);
  return peak_input_;
}

}  // namespace sevenzfs::archive
