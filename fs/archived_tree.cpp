#include "archived_tree.hpp"

#include "archive/file_attributes.hpp"

#include <fmt/format.h>

#include <unordered_map>
#include <utility>
#include <vector>

namespace sevenzfs::fs {

namespace {

constexpr std::size_t kMaxNameBytes = 255;

// Cuts `name` to at most `limit` bytes without splitting a UTF-8 character.
// In place: GCC 12 took the move of a returned copy for an overrun (a false
// -Warray-bounds).
void cut_name(std::string& name, std::size_t limit) {
  if (name.size() <= limit) return;
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(name[end]) & 0xC0) == 0x80) --end;
  name.resize(end);
}

// Where an archive entry is shown: components that are empty, "." or ".."
// are dropped — as tar does with absolute paths — so nothing lies outside
// the mount; a component longer than a name can be is cut. `why` says what
// was changed (empty: nothing).
struct shown_path {
  std::vector<std::string> components;
  std::string why;
};

shown_path path_to_show(const archive::file_info& file, const std::string& path) {
  shown_path shown;
  std::size_t start = 0;
  bool dropped = false, cut = false;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    std::string component = path.substr(start, slash - start);
    start = slash + 1;
    if (component.empty() || component == "." || component == "..") {
      // A trailing '/' (a directory written as "dir/") is not worth a word.
      dropped = dropped || !(component.empty() && slash == path.size() && !shown.components.empty());
      continue;
    }
    if (component.size() > kMaxNameBytes) {
      cut_name(component, kMaxNameBytes);
      cut = true;
    }
    shown.components.push_back(std::move(component));
  }
  if (shown.components.empty()) {
    shown.components.emplace_back("unnamed");
    shown.why = "it has no name";
  } else if (dropped) {
    shown.why = "it is not a plain relative path";
  } else if (cut) {
    shown.why = "a name in it is longer than 255 bytes";
  }
  if (file.name_repaired) shown.why = "its stored name is not valid Unicode (UTF-16)";
  return shown;
}

std::string join(const std::vector<std::string>& components, std::size_t count) {
  std::string path;
  for (std::size_t i = 0; i < count; ++i) path += (i == 0 ? "" : "/") + components[i];
  return path;
}

}  // namespace

std::string shown_path_of(const archive::file_info& file) {
  const shown_path shown = path_to_show(file, file.name);
  return join(shown.components, shown.components.size());
}

namespace {

// Lines about entries shown elsewhere, at most; the rest are counted.
constexpr std::size_t kMaxWarnings = 100;

class tree_loader {
 public:
  tree_loader(inode_table& inodes, const caller& owner, logger& log, const std::string& archive_path)
      : inodes_(inodes), owner_(owner), log_(log), archive_path_(archive_path) {}

  // Places one entry; returns whether it is shown somewhere else than its
  // stored path (or moved an earlier entry aside).
  bool place(const archive::file_info& file, const archive::entry& e, const archived_bytes* content) {
    shown_path shown = path_to_show(file, e.path);
    bool adjusted = !shown.why.empty();
    inode* directory = &inodes_.root();
    for (std::size_t i = 0; i + 1 < shown.components.size(); ++i) {
      directory = directory_at(*directory, shown.components, i, adjusted);
    }
    std::string& leaf = shown.components.back();
    if (inode* existing = inodes_.child(directory->number, leaf)) {
      if (existing->is_directory() && e.kind == node_kind::directory) {
        existing->permissions = e.mode;
        directory_times_.emplace_back(existing, e.mtime);
        return adjusted;
      }
      if (existing->is_directory()) {
        // Directories keep their names: moving one would move everything below.
        leaf = free_name(*directory, leaf);
        shown.why = "a directory of that name is in the archive too";
      } else {
        move_aside(*directory, *existing,
                   e.kind == node_kind::directory ? "a directory of that name comes later"
                                                  : "a later entry has the same name");
      }
      adjusted = true;
    }
    if (!shown.why.empty()) {
      warn("{}: entry '{}' is shown as '{}': {}", archive_path_, e.path,
           join(shown.components, shown.components.size()), shown.why);
    }
    inode* made = *inodes_.create(directory->number, leaf, e.kind, e.mode, owner_, [&](inode& node) {
      node.atime = node.mtime = node.ctime = e.mtime;
      if (content != nullptr) node.content.set_archived(*content);
    });
    if (made->is_directory()) directory_times_.emplace_back(made, e.mtime);
    return adjusted;
  }

  // Adding children stamps a directory with the current time, so the
  // archived directory times are applied once everything is in place.
  void apply_directory_times() {
    for (auto& [directory, time] : directory_times_) directory->mtime = directory->ctime = directory->atime = time;
  }

  // Says how many lines were left out.
  void finish() const {
    if (warnings_ > kMaxWarnings) {
      log_.warning("{}: {} more lines about entries shown under other names are left out (the first {} are above)",
                   archive_path_, warnings_ - kMaxWarnings, kMaxWarnings);
    }
  }

 private:
  template <typename... Args>
  void warn(fmt::format_string<Args...> format, Args&&... args) {
    if (++warnings_ <= kMaxWarnings) log_.warning(format, std::forward<Args>(args)...);
  }

  // A name in `directory` that is free: `name` with _1, _2, ... before its
  // extension, as extractors name the copies they keep. The next number to
  // try is kept per name: tried from 1 each time, 20,000 entries of one
  // name took 28 s to load.
  std::string free_name(inode& directory, const std::string& name) {
    const std::size_t dot = name.rfind('.');
    const bool has_extension = dot != std::string::npos && dot > 0;
    const std::string stem = has_extension ? name.substr(0, dot) : name;
    const std::string extension = has_extension ? name.substr(dot) : "";
    std::uint64_t& n = next_suffix_[fmt::format("{}/{}", directory.number, name)];
    for (++n;; ++n) {
      const std::string suffix = fmt::format("_{}{}", n, extension);
      std::string candidate = stem;
      cut_name(candidate, kMaxNameBytes - std::min(suffix.size(), kMaxNameBytes));
      candidate += suffix;
      if (inodes_.child(directory.number, candidate) == nullptr) return candidate;
    }
  }

  // The directory components[index] in `parent`, made as needed; a file
  // there is moved aside. Its path is spelled out only for that message:
  // joined for every component of every entry, a chain of 2,000 nested
  // directories took 20 s to load (cubic in the depth).
  inode* directory_at(inode& parent, const std::vector<std::string>& components, std::size_t index, bool& adjusted) {
    const std::string& name = components[index];
    if (inode* existing = inodes_.child(parent.number, name)) {
      if (existing->is_directory()) return existing;
      move_aside(parent, *existing, fmt::format("entries below '{}' make it a directory", join(components, index + 1)));
      adjusted = true;
    }
    return *inodes_.create(parent.number, name, node_kind::directory, 0755, owner_);
  }

  void move_aside(inode& directory, inode& node, std::string_view why) {
    const std::string old_name = node.name;
    const std::string new_name = free_name(directory, old_name);
    (void)inodes_.rename(directory.number, old_name, directory.number, new_name, RENAME_NOREPLACE);
    const std::string where = inodes_.path_of(directory);
    const std::string prefix = where.empty() ? "" : where + "/";
    warn("{}: '{}{}' is shown as '{}{}': {}", archive_path_, prefix, old_name, prefix, new_name, why);
  }

  inode_table& inodes_;
  const caller& owner_;
  logger& log_;
  const std::string& archive_path_;
  std::vector<std::pair<inode*, std::timespec>> directory_times_;
  std::unordered_map<std::string, std::uint64_t> next_suffix_;  // by "directory number/name"
  std::size_t warnings_ = 0;
};

}  // namespace

std::size_t load_archived_tree(const std::shared_ptr<const archive::archive_snapshot>& snapshot, inode_table& inodes,
                               const caller& owner, logger& log) {
  if (!snapshot) return 0;
  const archive::archive_database& db = snapshot->database();
  const std::timespec now = current_time();
  tree_loader loader(inodes, owner, log, snapshot->path());
  std::size_t adjusted = 0;
  std::uint64_t stream = 0;
  for (const auto& file : db.files) {
    std::optional<archived_bytes> content;
    std::uint64_t size = 0;
    if (file.has_stream) {
      size = db.substream_sizes[stream];
      content = archived_bytes{snapshot, stream++, size};
    }
    const auto e = archive::entry_from_file(file, size, now);
    if (loader.place(file, e, content ? &*content : nullptr)) ++adjusted;
  }
  loader.apply_directory_times();
  loader.finish();
  return adjusted;
}

}  // namespace sevenzfs::fs
