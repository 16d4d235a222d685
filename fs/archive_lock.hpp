#pragma once
// One daemon per archive: an open-file-description lock on ARCHIVE.lock
// beside the archive, taken before the archive is read and held until after
// the final commit (so an unmount followed at once by a new mount waits for,
// or is refused by, the first daemon's last commit). The file names its
// holder (pid and mountpoint) for the message another daemon gives. The
// holder removes it when it lets the lock go, still holding it; so a taker
// checks, once it holds a lock file, that the path still names that file,
// and takes the file there otherwise (a daemon waiting for the lock wakes up
// holding a removed one).
//
// The lock file is named after the path, and an archive can have other
// names: hard links, bind mounts. So the archive file itself is locked too
// (an open-file-description lock on its inode, while it exists), and the
// lock follows the archive when a commit writes it anew (a new inode renamed
// into place).
//
// A read-only mount takes a shared lock on the archive file alone, and makes
// no lock file (its directory may be read-only): read-only mounts run side
// by side, and a daemon that would write the archive is refused while one
// runs, as one is refused while a writing daemon holds either lock.
//
// On a file system that keeps no locks (ENOLCK) a writing daemon is refused
// (a second one could not be kept out); a read-only one may go on unheld.
#include "result.hpp"

#include "archive/file_io.hpp"

#include <functional>
#include <string>

namespace sevenzfs::fs {

class archive_lock {
 public:
  // Takes the lock for `archive_path`. Busy: EBUSY with a message naming the
  // holder, unless `wait`, which waits for it (calling `on_wait` once first).
  static result<archive_lock> take(const std::string& archive_path, const std::string& mountpoint, bool wait,
                                   const std::function<void(const std::string& holder)>& on_wait = {});

  // Takes the shared lock of a read-only mount on the archive at
  // `archive_path`, which must exist. Busy: EBUSY naming the writing daemon,
  // unless `wait`.
  static result<archive_lock> take_shared(const std::string& archive_path, bool wait,
                                          const std::function<void(const std::string& holder)>& on_wait = {});

  // A read-only mount's lock that holds nothing: for an archive on a file
  // system that keeps no locks (take_shared failed with ENOLCK), where
  // nothing can keep writers out.
  static archive_lock unheld(const std::string& archive_path);

  archive_lock(archive_lock&&) noexcept = default;
  archive_lock& operator=(archive_lock&&) = delete;
  ~archive_lock();  // removes the lock file, then lets the lock go

  const std::string& path() const noexcept { return path_; }
  // A read-only mount's lock.
  bool shared() const noexcept { return path_.empty(); }
  // After a commit: locks the archive the path now names if it is another
  // file than the one locked (created, or written anew), and lets the old
  // one go. EBUSY when another daemon holds the new one. Nothing for a
  // shared lock (a read-only mount commits nothing).
  result<void> follow_archive();
  // Writes this process as the holder: again after daemonizing, as the lock
  // (which belongs to the open file, not the process) passes to the child.
  // Nothing for a shared lock, which has no lock file.
  void name_holder(const std::string& mountpoint) const;

 private:
  archive_lock(std::string archive_path, std::string path, archive::unique_fd fd)
      : archive_path_(std::move(archive_path)), path_(std::move(path)), fd_(std::move(fd)) {}
  std::string archive_path_;
  std::string path_;               // the lock file; empty for a shared lock
  archive::unique_fd fd_;          // the lock goes with the descriptor
  archive::unique_fd archive_fd_;  // the archive file's lock; none while there is no archive
};

// Who holds a lock file, as its holder wrote it ("pid 123, mounted on /m").
std::string lock_holder(const std::string& lock_path);

}  // namespace sevenzfs::fs
