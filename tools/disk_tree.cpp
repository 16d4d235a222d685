#include "disk_tree.hpp"

#include "archive/archive_error.hpp"
#include "archive/file_io.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <set>

namespace sevenzfs::tools {

using archive::archive_error;
using archive::entry;
using archive::entry_kind;
using archive::error_kind;
using archive::throw_io_error;

namespace {

constexpr std::size_t kReadChunk = 1 << 20;

struct dir_closer {
  void operator()(DIR* dir) const { ::closedir(dir); }
};

std::string strip_trailing_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

std::string base_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "/" + name;
}

std::vector<std::string> sorted_children(const std::string& dir_path) {
  std::unique_ptr<DIR, dir_closer> dir(::opendir(dir_path.c_str()));
  if (!dir) throw_io_error(dir_path, "cannot read directory", errno);
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* item = ::readdir(dir.get())) {
    const std::string name = item->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  if (errno != 0) throw_io_error(dir_path, "cannot read directory", errno);
  std::ranges::sort(names);
  return names;
}

class walker {
 public:
  std::vector<entry> entries;

  // `archive_path` empty means: store the directory's children at the top.
  // `follow`: a symlink at `disk_path` stands for what it points to.
  void add(const std::string& disk_path, const std::string& archive_path, bool follow = false) {
    struct stat st {};
    if ((follow ? ::stat(disk_path.c_str(), &st) : ::lstat(disk_path.c_str(), &st)) != 0) {
      throw_io_error(disk_path, "cannot read", errno);
    }
    entry e;
    e.path = archive_path;
    e.mode = st.st_mode & 07777;
    e.mtime = st.st_mtim;
    if (S_ISDIR(st.st_mode)) {
      if (::faccessat(AT_FDCWD, disk_path.c_str(), R_OK | X_OK, AT_EACCESS) != 0) {
        throw_io_error(disk_path, "cannot read directory", errno);
      }
      if (!archive_path.empty()) {
        e.kind = entry_kind::directory;
        push(std::move(e), disk_path);
      }
      for (const auto& name : sorted_children(disk_path)) add(join(disk_path, name), join(archive_path, name));
    } else if (S_ISREG(st.st_mode)) {
      if (::faccessat(AT_FDCWD, disk_path.c_str(), R_OK, AT_EACCESS) != 0) {
        throw_io_error(disk_path, "cannot read file", errno);
      }
      e.kind = entry_kind::file;
      e.size = static_cast<std::uint64_t>(st.st_size);
      if (e.size > 0) e.content = std::make_shared<disk_file_content>(disk_path);
      push(std::move(e), disk_path);
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
      const ssize_t n = ::readlink(disk_path.c_str(), target.data(), target.size());
      if (n < 0) throw_io_error(disk_path, "cannot read symbolic link", errno);
      target.resize(static_cast<std::size_t>(n));
      e.kind = entry_kind::symlink;
      e.size = target.size();
      e.content = std::make_shared<archive::memory_content>(target);
      push(std::move(e), disk_path);
    } else {
      throw archive_error(error_kind::invalid_input, disk_path,
                          "unsupported file type (device, FIFO or socket): 7z cannot store it");
    }
  }

 private:
  void push(entry e, const std::string& disk_path) {
    if (!seen_.insert(e.path).second) {
      throw archive_error(error_kind::invalid_input, disk_path,
                          "two inputs map to the same archive path '" + e.path + "'");
    }
    entries.push_back(std::move(e));
  }

  std::set<std::string> seen_;
};

}  // namespace

void disk_file_content::visit(const archive::span_sink& sink) const {
  const archive::unique_fd file(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file) throw_io_error(path_, "cannot open file", errno);
  ::posix_fadvise(file.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  thread_local std::vector<std::uint8_t> buffer(kReadChunk);
  for (;;) {
    const std::size_t n = archive::read_some(file.get(), buffer, path_);
    if (n == 0) return;
    sink(std::span<const std::uint8_t>(buffer.data(), n));
  }
}

std::vector<entry> collect_entries(const std::vector<std::string>& inputs) {
  walker walk;
  for (const auto& input : inputs) {
    const std::string path = strip_trailing_slashes(input);
    const std::string name = base_name(path);
    // "dir/." or "/" have no name of their own: their children go to the top.
    const bool unnamed = name.empty() || name == "." || name == ".." || path == "/";
    // "link/" means the directory the link points to, as path resolution
    // (and so cp -r and tar) has it; "file/" is refused (not a directory).
    const bool slashed = path.size() < input.size();
    if (slashed) {
      struct stat st {};
      if (::stat(input.c_str(), &st) != 0) throw_io_error(input, "cannot read", errno);
    }
    walk.add(path, unnamed ? std::string{} : name, slashed);
  }
  return std::move(walk.entries);
}

}  // namespace sevenzfs::tools
