#include "archive_lock.hpp"

#include "archive/archive_error.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace sevenzfs::fs {

namespace {

bool lock_whole_file(int fd, bool wait) {
  struct flock whole {};
  whole.l_type = F_WRLCK;
  whole.l_whence = SEEK_SET;
  for (;;) {
    if (::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &whole) == 0) return true;
    if (errno != EINTR) return false;
  }
}

}  // namespace

std::string lock_holder(const std::string& lock_path) {
  std::ifstream in(lock_path);
  std::string holder;
  std::getline(in, holder);
  return holder.empty() ? "another process" : holder;
}

result<archive_lock> archive_lock::take(const std::string& archive_path, const std::string& mountpoint, bool wait,
                                        const std::function<void(const std::string& holder)>& on_wait) {
  std::string path = archive_path + ".lock";
  archive::unique_fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666));
  if (!fd) {
    const int error = errno;
    return failure(error, fmt::format("cannot open the lock file {}: {}", path, std::strerror(error)));
  }
  if (!lock_whole_file(fd.get(), false)) {
    if (errno != EAGAIN && errno != EACCES) {
      const int error = errno;
      return failure(error, fmt::format("cannot lock {}: {}", path, std::strerror(error)));
    }
    const std::string holder = lock_holder(path);
    if (!wait) {
      return failure(EBUSY, fmt::format("{} is in use by sevenzfs ({}); unmount it first, or use -o wait_lock",
                                        archive_path, holder));
    }
    if (on_wait) on_wait(holder);
    if (!lock_whole_file(fd.get(), true)) {
      const int error = errno;
      return failure(error, fmt::format("cannot lock {}: {}", path, std::strerror(error)));
    }
  }
  archive_lock taken(std::move(path), std::move(fd));
  taken.name_holder(mountpoint);
  return taken;
}

void archive_lock::name_holder(const std::string& mountpoint) const {
  const std::string holder = fmt::format("pid {}, mounted on {}\n", ::getpid(), mountpoint);
  if (::ftruncate(fd_.get(), 0) != 0) return;
  try {
    archive::write_at(fd_.get(), 0, {reinterpret_cast<const std::uint8_t*>(holder.data()), holder.size()}, path_);
  } catch (const archive::archive_error&) {
    // Only the message a second daemon gives is poorer; the lock holds.
  }
}

}  // namespace sevenzfs::fs
