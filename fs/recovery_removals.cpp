// The removals beside a recovery archive (recovery_removals.hpp).
#include "recovery_removals.hpp"

#include "archive/archive_error.hpp"
#include "archive/archive_writer.hpp"
#include "archive/file_io.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sevenzfs::fs {

std::string removals_path_of(const std::string& recovery) { return recovery + ".removed"; }

namespace {

// Whether `path` names a file of this user (what a save of ours made, or
// someone replaced it with a file of this user).
bool ours(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && st.st_uid == ::geteuid();
}

}  // namespace

void write_removals(const std::string& recovery, const std::vector<std::string>& paths) {
  const std::string path = removals_path_of(recovery);
  std::string text(kRemovalsHeading);
  for (const auto& removed : paths) {
    text += removed;
    text += '\0';
  }
  if (ours(path) && ::unlink(path.c_str()) != 0 && errno != ENOENT) {
    archive::throw_io_error(path, "cannot remove an earlier list of removed paths", errno);
  }
  archive::unique_fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) archive::throw_io_error(path, "cannot create the list of removed paths", errno);
  try {
    // The umask may have taken bits away, never added any: 0600 as made.
    archive::write_at(fd.get(), 0, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), path);
    archive::sync_file(fd.get(), path);
    archive::sync_directory_of(path);
  } catch (...) {
    ::unlink(path.c_str());
    throw;
  }
}

bool remove_removals(const std::string& recovery) {
  const std::string path = removals_path_of(recovery);
  if (!ours(path)) return false;
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return false;
    archive::throw_io_error(path, "cannot remove the list of removed paths", errno);
  }
  archive::sync_directory_of(path);
  return true;
}

result<read_removals_result> read_removals(const std::string& recovery) {
  const std::string path = removals_path_of(recovery);
  // O_NONBLOCK: a FIFO put at this name must not hold the mount.
  const archive::unique_fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return read_removals_result{};
    if (errno == ELOOP) {
      if (!ours(path)) return read_removals_result{{}, fmt::format("{} is a symlink of another user", path)};
      return failure(ELOOP, fmt::format("{} is a symlink, not a list of removed paths this user's daemon wrote", path));
    }
    return failure(errno, fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return failure(errno, fmt::format("cannot stat {}: {}", path, std::strerror(errno)));
  // In a shared recovery_dir another user may create a file under a name
  // they can predict (passed over: it cannot be ours), or hard-link ours.
  if (st.st_uid != ::geteuid()) {
    return read_removals_result{{}, fmt::format("{} belongs to another user (uid {})", path, st.st_uid)};
  }
  if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || (st.st_mode & 077) != 0) {
    return failure(EPERM, fmt::format("{} is not a list of removed paths this user's daemon wrote (a private file "
                                      "of one link)",
                                      path));
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  try {
    while (got < text.size()) {
      const std::size_t more = archive::read_at(
          fd.get(), got, std::span(reinterpret_cast<std::uint8_t*>(text.data()) + got, text.size() - got), path);
      if (more == 0) break;
      got += more;
    }
  } catch (const archive::archive_error& e) {
    return failure(EIO, e.what());
  }
  text.resize(got);
  if (!text.starts_with(kRemovalsHeading) || (text.size() > kRemovalsHeading.size() && text.back() != '\0')) {
    return failure(EINVAL, fmt::format("{} is not a list of removed paths as sevenzfs writes it (its heading or "
                                       "its last NUL byte is missing)",
                                       path));
  }
  std::vector<std::string> paths;
  for (std::size_t start = kRemovalsHeading.size(); start < text.size();) {
    const std::size_t end = text.find('\0', start);
    paths.emplace_back(text, start, end - start);
    try {
      archive::check_archive_path(paths.back());
    } catch (const archive::archive_error& e) {
      return failure(EINVAL, fmt::format("{} lists a path no mount can show: {}", path, e.what()));
    }
    start = end + 1;
  }
  return read_removals_result{std::move(paths), {}};
}

}  // namespace sevenzfs::fs
