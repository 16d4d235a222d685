#include "archived_tree.hpp"

#include "archive/file_attributes.hpp"

#include <vector>

namespace sevenzfs::fs {

namespace {

// The directory that holds `path`'s last component, made as needed; nullptr
// when a component is not a plain name or is a file.
inode* parent_directory(inode_table& inodes, const std::string& path, const caller& owner, std::size_t& leaf_start) {
  inode* directory = &inodes.root();
  std::size_t start = 0;
  for (std::size_t slash; (slash = path.find('/', start)) != std::string::npos; start = slash + 1) {
    const std::string_view component(path.data() + start, slash - start);
    if (!check_entry_name(component)) return nullptr;
    inode* next = inodes.child(directory->number, component);
    if (next == nullptr) {
      next = *inodes.create(directory->number, component, node_kind::directory, 0755, owner);
    } else if (!next->is_directory()) {
      return nullptr;
    }
    directory = next;
  }
  leaf_start = start;
  return directory;
}

}  // namespace

std::size_t load_archived_tree(const std::shared_ptr<const archive::archive_snapshot>& snapshot, inode_table& inodes,
                               const caller& owner, logger& log) {
  if (!snapshot) return 0;
  const archive::archive_database& db = snapshot->database();
  const std::string& archive_path = snapshot->path();
  const std::timespec now = current_time();
  std::size_t left_out = 0;
  std::uint64_t stream = 0;
  // Adding children stamps a directory with the current time, so the
  // archived directory times are applied once everything is in place.
  std::vector<std::pair<inode*, std::timespec>> directory_times;
  for (const auto& file : db.files) {
    const std::uint64_t this_stream = file.has_stream ? stream++ : 0;
    const auto e = archive::entry_from_file(file, file.has_stream ? db.substream_sizes[this_stream] : 0, now);
    std::size_t leaf_start = 0;
    inode* directory = parent_directory(inodes, e.path, owner, leaf_start);
    const std::string_view leaf = std::string_view(e.path).substr(leaf_start);
    if (directory == nullptr || !check_entry_name(leaf)) {
      log.warning("{}: entry '{}' has a name the mount cannot show; it stays in the archive", archive_path, e.path);
      ++left_out;
      continue;
    }
    if (inode* existing = inodes.child(directory->number, leaf)) {
      if (existing->is_directory() && e.kind == node_kind::directory) {
        existing->permissions = e.mode;
        directory_times.emplace_back(existing, e.mtime);
        continue;
      }
      if (existing->is_directory()) {
        log.warning("{}: '{}' is both a directory and a file; the directory is shown", archive_path, e.path);
        ++left_out;
        continue;
      }
      // A later entry of the same name is the newer copy.
      (void)inodes.remove(directory->number, leaf, false);
    }
    inode* made = *inodes.create(directory->number, leaf, e.kind, e.mode, owner, [&](inode& node) {
      node.atime = node.mtime = node.ctime = e.mtime;
      if (file.has_stream) node.content.set_archived(archived_bytes{snapshot, this_stream, e.size});
    });
    if (made->is_directory()) directory_times.emplace_back(made, e.mtime);
  }
  for (auto& [directory, time] : directory_times) directory->mtime = directory->ctime = directory->atime = time;
  return left_out;
}

}  // namespace sevenzfs::fs
