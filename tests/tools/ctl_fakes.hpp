#pragma once
// What sevenzfs-ctl's tests put in place of a daemon: the xattrs of a mount
// root with values the test sets and controls whose effect the test decides,
// a mountinfo file, and capturing a program's output.
#include "tools/ctl_mount.hpp"

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sevenzfs::test {

struct captured {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `program(out, err)` with both streams in memory.
captured capture(const std::function<int(std::FILE*, std::FILE*)>& program);

// Thread-safe: sevenzfs-ctl reads values from its progress thread while
// another thread is inside a control.
class fake_daemon {
 public:
  void set_value(const std::string& key, std::string value);
  // Every read fails with `error` (0: reads work again).
  void fail_reads(int error);
  // What setting `control` does (runs in the setting thread); by default 0.
  void on_control(const std::string& control, std::function<int()> action);
  std::vector<std::string> controls_set() const;

  std::expected<std::string, int> get(std::string_view key);
  int set(std::string_view key);

  // A root_xattrs that forwards to this fake (for ctl_environment::open_xattrs).
  std::unique_ptr<tools::root_xattrs> open();

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string, std::less<>> values_;
  std::map<std::string, std::function<int()>, std::less<>> actions_;
  std::vector<std::string> controls_set_;
  int read_error_ = 0;
};

// Writes a mountinfo file listing (mountpoint, fstype) pairs in order.
void write_mountinfo(const std::filesystem::path& file, const std::vector<std::pair<std::string, std::string>>& mounts);

}  // namespace sevenzfs::test
