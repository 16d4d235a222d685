#pragma once
// One daemon per archive: an open-file-description lock on ARCHIVE.lock
// beside the archive, taken before the archive is read and held until after
// the final commit (so an unmount followed at once by a new mount waits for,
// or is refused by, the first daemon's last commit). The file names its
// holder (pid and mountpoint) for the message another daemon gives; it is
// never removed, as removing a lock file races with the next taker.
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

  const std::string& path() const noexcept { return path_; }
  // Writes this process as the holder: again after daemonizing, as the lock
  // (which belongs to the open file, not the process) passes to the child.
  void name_holder(const std::string& mountpoint) const;

 private:
  archive_lock(std::string path, archive::unique_fd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  archive::unique_fd fd_;  // the lock goes with the descriptor
};

// Who holds a lock file, as its holder wrote it ("pid 123, mounted on /m").
std::string lock_holder(const std::string& lock_path);

}  // namespace sevenzfs::fs
