#include "archive_lock.hpp"

#include "archive/archive_error.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

namespace sevenzfs::fs {

namespace {

bool lock_whole_file(int fd, bool wait, bool shared = false) {
  struct flock whole {};
  whole.l_type = shared ? F_RDLCK : F_WRLCK;
  whole.l_whence = SEEK_SET;
  for (;;) {
    if (::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &whole) == 0) return true;
    if (errno != EINTR) return false;
  }
}

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

// Whether `path` still names the file `fd` holds locked: the holder waited
// for may have removed or replaced it as it let the lock go.
result<bool> still_named(int fd, const std::string& path) {
  struct stat locked {};
  struct stat named {};
  if (::fstat(fd, &locked) == 0 && ::stat(path.c_str(), &named) == 0) return same_file(named, locked);
  if (errno == ENOENT) return false;
  const int error = errno;
  return failure(error, fmt::format("cannot stat {}: {}", path, std::strerror(error)));
}

using wait_callback = std::function<void(const std::string& holder)>;

// The failure of a lock call on `path` that failed with errno. ENOLCK is a
// file system that keeps no locks (an NFS mount whose lock service does not
// run): no daemon there can keep another out of the archive.
std::unexpected<fs_error> cannot_lock(const std::string& path) {
  const int error = errno;
  if (error == ENOLCK) {
    return failure(error, fmt::format("cannot lock {}: {}: the file system there keeps no locks (an NFS mount without "
                                      "its lock service?), so nothing would keep a second daemon from writing the "
                                      "archive at the same time; mount it read-only (-o ro), or keep the archive "
                                      "where locks work",
                                      path, std::strerror(error)));
  }
  return failure(error, fmt::format("cannot lock {}: {}", path, std::strerror(error)));
}

// Locks `fd` (the file at `path`), or says who holds it: `holder()` names
// them for the message, or for `on_wait` before waiting when `wait`.
result<void> lock_or_wait(int fd, const std::string& path, const std::string& archive_path,
                          const std::function<std::string()>& holder, bool wait, const wait_callback& on_wait) {
  if (lock_whole_file(fd, false)) return {};
  if (errno == EAGAIN || errno == EACCES) {
    const std::string who = holder();
    if (!wait) {
      return failure(EBUSY, fmt::format("{} is in use by sevenzfs ({}); unmount it first, or use -o wait_lock",
                                        archive_path, who));
    }
    if (on_wait) on_wait(who);
    if (lock_whole_file(fd, true)) return {};
  }
  return cannot_lock(path);
}

// An archive this daemon cannot open for writing, it cannot lock either (a
// write lock needs a descriptor open for writing). It may still write it
// anew, by rename: so it waits for (or is refused by) any lock held on it,
// a read-only mount's included, looking every 200 ms (a lock it does not
// take cannot be waited for).
result<void> wait_until_unlocked(const std::string& archive_path, bool wait, const wait_callback& on_wait,
                                 const std::function<std::string()>& holder) {
  archive::unique_fd fd(::open(archive_path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return {};  // unreadable as well: opening the archive says why
  for (bool told = false;; told = true) {
    struct flock probe {};
    probe.l_type = F_WRLCK;
    probe.l_whence = SEEK_SET;
    if (::fcntl(fd.get(), F_OFD_GETLK, &probe) != 0 || probe.l_type == F_UNLCK) return {};
    if (!wait) {
      return failure(EBUSY, fmt::format("{} is in use by sevenzfs ({}); unmount it first, or use -o wait_lock",
                                        archive_path, holder()));
    }
    if (!told && on_wait) on_wait(holder());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// The archive file, locked: a daemon mounting it under another name holds
// another lock file, but the same inode. An empty descriptor when there is
// no archive yet (the first commit creates it) or it cannot be opened for
// writing (nor then written in place: opening the archive reports why).
// Running out of descriptors or memory is an error: an empty descriptor
// would leave an archive that exists unlocked without a word.
result<archive::unique_fd> lock_archive_file(const std::string& archive_path, bool wait, const wait_callback& on_wait) {
  const auto holder = [] {
    return std::string(
        "a read-only mount, or a daemon that mounted it under another name: a hard link or a bind mount");
  };
  for (;;) {
    archive::unique_fd fd(::open(archive_path.c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK));
    if (!fd) {
      const int error = errno;
      if (error == EMFILE || error == ENFILE || error == ENOMEM) {
        return failure(error, fmt::format("cannot open {} to lock it: {}", archive_path, std::strerror(error)));
      }
      if (auto unlocked = wait_until_unlocked(archive_path, wait, on_wait, holder); !unlocked) {
        return std::unexpected(unlocked.error());
      }
      return archive::unique_fd{};
    }
    if (auto locked = lock_or_wait(fd.get(), archive_path, archive_path, holder, wait, on_wait); !locked) {
      return std::unexpected(locked.error());
    }
    const auto named = still_named(fd.get(), archive_path);
    if (!named) return std::unexpected(named.error());
    if (*named) return fd;
    // The holder wrote the archive anew while we waited: the path names
    // another file now, which is the one to lock.
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
  archive::unique_fd fd;
  for (;;) {
    fd = archive::unique_fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666));
    if (!fd) {
      const int error = errno;
      return failure(error, fmt::format("cannot open the lock file {}: {}", path, std::strerror(error)));
    }
    if (auto locked = lock_or_wait(
            fd.get(), path, archive_path, [&] { return lock_holder(path); }, wait, on_wait);
        !locked) {
      // Where no lock can be taken, the (empty) lock file just made would
      // stay behind, naming nobody.
      struct stat made {};
      if (locked.error().code == ENOLCK && ::fstat(fd.get(), &made) == 0 && made.st_size == 0) {
        ::unlink(path.c_str());
      }
      return std::unexpected(locked.error());
    }
    const auto named = still_named(fd.get(), path);
    if (!named) return std::unexpected(named.error());
    if (*named) break;
    // The holder we waited for removed this file as it let it go.
  }
  // Named at once: a read-only mount refused meanwhile names this daemon.
  // Refused the archive's lock, the lock file goes as it goes at the end.
  archive_lock taken(archive_path, std::move(path), std::move(fd));
  taken.name_holder(mountpoint);
  auto archive_fd = lock_archive_file(archive_path, wait, on_wait);
  if (!archive_fd) return std::unexpected(archive_fd.error());
  taken.archive_fd_ = std::move(*archive_fd);
  return taken;
}

result<archive_lock> archive_lock::take_shared(const std::string& archive_path, bool wait,
                                               const std::function<void(const std::string& holder)>& on_wait) {
  const std::string lock_path = archive_path + ".lock";
  const auto writer = [&] {
    return ::access(lock_path.c_str(), F_OK) == 0 ? lock_holder(lock_path)
                                                  : std::string("a daemon that mounted it under another name");
  };
  const auto busy = [&] {
    return failure(EBUSY, fmt::format("{} is in use by sevenzfs ({}), which writes it; unmount it first, or use "
                                      "-o wait_lock",
                                      archive_path, writer()));
  };
  bool told = false;
  const auto waiting = [&] {
    if (!told && on_wait) on_wait(writer());
    told = true;
  };
  for (;;) {
    archive::unique_fd fd(::open(archive_path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!fd) {
      const int error = errno;
      return failure(error, fmt::format("cannot open {}: {}", archive_path, std::strerror(error)));
    }
    if (!lock_whole_file(fd.get(), false, true)) {
      if (errno != EAGAIN && errno != EACCES) break;
      if (!wait) return busy();
      waiting();
      if (!lock_whole_file(fd.get(), true, true)) break;
    }
    const auto named = still_named(fd.get(), archive_path);
    if (!named) return std::unexpected(named.error());
    if (!*named) continue;  // written anew while we waited
    // A writing daemon holds its lock file from before it locks the archive
    // until after it lets it go, and while it locks an archive it wrote anew:
    // the archive's lock alone may not show it yet.
    // One this user cannot read (another user's, made under umask 077) is
    // passed over: the archive's lock, held now, keeps writers out from here.
    archive::unique_fd lock_file(::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!lock_file) {
      if (errno != ENOENT && errno != EACCES) {
        const int error = errno;
        return failure(error, fmt::format("cannot open the lock file {}: {}", lock_path, std::strerror(error)));
      }
    } else {
      struct flock probe {};
      probe.l_type = F_RDLCK;
      probe.l_whence = SEEK_SET;
      if (::fcntl(lock_file.get(), F_OFD_GETLK, &probe) != 0) return cannot_lock(lock_path);
      if (probe.l_type != F_UNLCK) {
        if (!wait) return busy();
        waiting();
        fd.reset();  // the writer may be waiting for the archive's lock
        if (!lock_whole_file(lock_file.get(), true, true)) break;
        continue;  // the writer is gone: from the start
      }
    }
    archive_lock taken(archive_path, std::string(), archive::unique_fd{});
    taken.archive_fd_ = std::move(fd);
    return taken;
  }
  return cannot_lock(archive_path);
}

archive_lock archive_lock::unheld(const std::string& archive_path) {
  return archive_lock(archive_path, std::string(), archive::unique_fd{});
}

archive_lock::~archive_lock() {
  if (!fd_) return;  // moved from, or shared (no lock file)
  if (const auto named = still_named(fd_.get(), path_); named && *named) {
    ::unlink(path_.c_str());  // failing, it stays: the next taker uses it
  }
}

result<void> archive_lock::follow_archive() {
  if (shared()) return {};  // nothing is written
  struct stat named {};
  if (::stat(archive_path_.c_str(), &named) != 0) {
    if (errno == ENOENT) return {};  // no archive (yet): nothing to lock
    const int error = errno;
    return failure(error, fmt::format("cannot stat {}: {}", archive_path_, std::strerror(error)));
  }
  struct stat locked {};
  if (archive_fd_ && ::fstat(archive_fd_.get(), &locked) == 0 && same_file(named, locked)) return {};
  auto next = lock_archive_file(archive_path_, false, {});
  if (!next) return std::unexpected(next.error());
  archive_fd_ = std::move(*next);  // the file written over is let go
  return {};
}

void archive_lock::name_holder(const std::string& mountpoint) const {
  if (shared()) return;  // no lock file
  const std::string holder = fmt::format("pid {}, mounted on {}\n", ::getpid(), mountpoint);
  if (::ftruncate(fd_.get(), 0) != 0) return;
  try {
    archive::write_at(fd_.get(), 0, {reinterpret_cast<const std::uint8_t*>(holder.data()), holder.size()}, path_);
  } catch (const archive::archive_error&) {
    // Only the message a second daemon gives is poorer; the lock holds.
  }
}

}  // namespace sevenzfs::fs
