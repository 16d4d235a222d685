#pragma once
// Live statistics of a mount, shown as user.sevenzfs.* extended attributes
// on the mount root and as one JSON document (user.sevenzfs.stats).
// Counters are atomics updated by the filesystem and the committer; the
// rendering is locale-free (fmt).
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sevenzfs::fs {

struct stat_value {
  std::string name;  // without the "user.sevenzfs." prefix
  std::string text;  // as shown by getfattr
  bool is_number = true;
};

// Commit figures; written by the committer thread, read by getxattr.
struct commit_progress {
  std::atomic<bool> running{false};
  std::atomic<std::uint64_t> pending_bytes{0};
  std::atomic<std::uint64_t> done_bytes{0};
  std::atomic<std::uint64_t> commits{0};
  std::atomic<std::int64_t> last_time{0};  // unix seconds at the end of the last commit
  std::atomic<std::uint64_t> last_duration_us{0};
  std::atomic<std::uint64_t> last_files{0};
  std::atomic<std::uint64_t> last_bytes{0};
  std::mutex error_mutex;
  std::string last_error;  // guarded by error_mutex

  void set_error(std::string error) {
    std::lock_guard lock(error_mutex);
    last_error = std::move(error);
  }
  std::string error() {
    std::lock_guard lock(error_mutex);
    return last_error;
  }
};

// Renders `values` as a JSON object.
std::string stats_json(const std::vector<stat_value>& values);

}  // namespace sevenzfs::fs
