#include "output_file.hpp"

#include "archive_error.hpp"
#include "file_copy.hpp"
#include "file_io.hpp"
#include "test_hooks.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace sevenzfs::archive {

namespace {

// The process's umask without changing it (umask(2) can only be read by
// setting it, which would race with other threads creating files).
mode_t current_umask() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("Umask:")) return static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8));
  }
  const mode_t mask = ::umask(022);  // no /proc: read it by setting it
  ::umask(mask);
  return mask;
}

// The temporaries of the output_files alive now, by path, for
// remove_unfinished_outputs().
struct unfinished_outputs {
  std::mutex mutex;
  std::set<std::string> paths;
};

unfinished_outputs& unfinished() {
  static unfinished_outputs outputs;
  return outputs;
}

void forget_unfinished(const std::string& path) {
  std::lock_guard lock(unfinished().mutex);
  unfinished().paths.erase(path);
}

}  // namespace

void remove_unfinished_outputs() noexcept {
  std::lock_guard lock(unfinished().mutex);
  for (const auto& path : unfinished().paths) ::unlink(path.c_str());
  unfinished().paths.clear();
}

output_file::output_file(std::string final_path) : final_path_(std::move(final_path)) {
  std::string pattern = final_path_ + ".tmp-XXXXXX";
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  // Locked first: a signal right after the file is made still finds it.
  std::lock_guard lock(unfinished().mutex);
  fd_ = unique_fd(::mkostemp(name.data(), O_CLOEXEC));
  if (!fd_) throw_io_error(directory_of(final_path_), "cannot create the archive in this directory", errno);
  temp_path_ = name.data();  // mkostemp creates it 0600
  unfinished().paths.insert(temp_path_);
}

unique_fd output_file::reader() const {
  static std::atomic<int> calls{0};
  if (nth_call_while_set("SEVENZFS_TEST_REFUSE_READER", calls)) {
    throw_io_error(final_path_, "cannot keep the archive open to read it", EMFILE);
  }
  // Read-only, as a snapshot's descriptor should be (a dup would be
  // read-write): opened again through /proc, which names this very file
  // whatever its name now. A dup where /proc cannot do it (not mounted,
  // refused by a security policy).
  const std::string self = fmt::format("/proc/self/fd/{}", fd_.get());
  unique_fd copy(::open(self.c_str(), O_RDONLY | O_CLOEXEC));
  if (!copy && errno != EMFILE && errno != ENFILE && errno != ENOMEM) {
    copy = unique_fd(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
  }
  if (!copy) throw_io_error(final_path_, "cannot keep the archive open to read it", errno);
  return copy;
}

output_file output_file::in_place(const std::string& path) {
  output_file file;
  file.final_path_ = path;
  file.committed_ = true;  // nothing to remove or rename
  file.fd_ = unique_fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!file.fd_) throw_io_error(path, "cannot open archive for writing", errno);
  struct stat st {};
  if (::fstat(file.fd_.get(), &st) != 0) throw_io_error(path, "cannot stat archive", errno);
  file.position_ = static_cast<std::uint64_t>(st.st_size);
  return file;
}

output_file::output_file(output_file&& other) noexcept
    : final_path_(std::move(other.final_path_)),
      temp_path_(std::move(other.temp_path_)),
      fd_(std::move(other.fd_)),
      position_(other.position_),
      committed_(other.committed_) {
  other.temp_path_.clear();
}

void output_file::sync() { sync_file(fd_.get(), final_path_); }

void output_file::append_copy(int source, std::uint64_t offset, std::uint64_t size, const std::string& source_path) {
  copy_file_bytes(source, offset, source_path, fd_.get(), position_, final_path_, size);
  position_ += size;
}

void joined_copy::add(int source, std::uint64_t offset, std::uint64_t size, std::string_view source_path) {
  if (size_ > 0 && source == source_ && offset == offset_ + size_) {
    size_ += size;
    return;
  }
  flush();
  source_ = source;
  offset_ = offset;
  size_ = size;
  path_ = source_path;
}

void joined_copy::flush() {
  if (size_ > 0) out_.append_copy(source_, offset_, size_, std::string(path_));
  size_ = 0;
}

void output_file::set_final_permissions() {
  struct stat old {};
  if (::stat(final_path_.c_str(), &old) == 0) {
    // Replacing an archive: it keeps its owner and mode. Only root can give
    // a file away; otherwise it becomes ours, without set-id bits.
    const bool owned = ::fchown(fd_.get(), old.st_uid, old.st_gid) == 0;
    if (!owned && errno != EPERM) throw_io_error(temp_path_, "cannot give the archive its owner", errno);
    if (::fchmod(fd_.get(), old.st_mode & (owned ? 07777 : 0777)) != 0)
      throw_io_error(temp_path_, "cannot give the archive its mode", errno);
  } else if (errno == ENOENT) {
    if (::fchmod(fd_.get(), 0666 & ~current_umask()) != 0)
      throw_io_error(temp_path_, "cannot give the archive its mode", errno);
  } else {
    throw_io_error(final_path_, "cannot stat archive", errno);
  }
}

output_file::~output_file() {
  fd_.reset();
  if (!committed_ && !temp_path_.empty()) {
    ::unlink(temp_path_.c_str());
    forget_unfinished(temp_path_);
  }
}

void output_file::append(std::span<const std::uint8_t> data) {
  write_at(position_, data);
  position_ += data.size();
}

void output_file::write_at(std::uint64_t offset, std::span<const std::uint8_t> data) {
  archive::write_at(fd_.get(), offset, data, final_path_);
}

void output_file::truncate(std::uint64_t size) {
  if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0)
    throw_io_error(final_path_, "cannot truncate archive", errno);
  position_ = size;
}

void output_file::commit() {
  set_final_permissions();
  sync_file(fd_.get(), final_path_);
  // Opened before the rename, as reader() is: past it the archive holds the
  // commit, and failing then for want of a descriptor (EMFILE) would leave
  // the daemon unable to commit until it is mounted again.
  const unique_fd directory = open_directory_of(final_path_);
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    throw_io_error(final_path_, "cannot rename the finished archive into place", errno);
  }
  committed_ = true;
  forget_unfinished(temp_path_);
  static std::atomic<int> syncs{0};
  if (nth_call_while_set("SEVENZFS_TEST_FAIL_DIRECTORY_SYNC", syncs)) {
    throw_io_error(final_path_, "cannot fsync the directory", EIO);
  }
  sync_file(directory.get(), directory_of(final_path_));
}

std::vector<std::string> remove_leftovers(const std::string& final_path,
                                          std::span<const std::string_view> other_kinds) {
  constexpr std::string_view kMarker = ".tmp-";
  constexpr std::size_t kRandomPart = 6;  // mkostemp's XXXXXX
  const auto slash = final_path.rfind('/');
  const std::string name = slash == std::string::npos ? final_path : final_path.substr(slash + 1);
  std::vector<std::string_view> kinds{"", ".pending"};
  kinds.insert(kinds.end(), other_kinds.begin(), other_kinds.end());
  const auto ours = [&](std::string_view candidate) {
    if (!candidate.starts_with(name) || candidate.size() < name.size() + kMarker.size() + kRandomPart) return false;
    const std::string_view random = candidate.substr(candidate.size() - kRandomPart);
    if (!std::ranges::all_of(random, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; })) {
      return false;
    }
    const std::string_view kind =
        candidate.substr(name.size(), candidate.size() - name.size() - kRandomPart - kMarker.size());
    return candidate.substr(candidate.size() - kRandomPart - kMarker.size()).starts_with(kMarker) &&
           std::ranges::find(kinds, kind) != kinds.end();
  };
  std::vector<std::string> removed;
  std::error_code error;
  for (const auto& item : std::filesystem::directory_iterator(directory_of(final_path), error)) {
    if (!ours(item.path().filename().string()) || !item.is_regular_file(error)) continue;
    if (std::filesystem::remove(item.path(), error)) removed.push_back(item.path().string());
  }
  return removed;
}

}  // namespace sevenzfs::archive
