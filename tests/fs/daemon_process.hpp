#pragma once
// Runs the sevenzfs daemon in the foreground for a test: waits until the
// mount is there, and always cleans up (lazy unmount, kill, reap) when the
// test is done, also when it failed.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace sevenzfs::test {

class daemon_process {
 public:
  // Starts `sevenzfs -f [-o options] archive mountpoint`, output to `log`.
  // `environment` entries (NAME=VALUE) are added to the daemon's environment.
  daemon_process(const std::filesystem::path& archive, const std::filesystem::path& mountpoint,
                 const std::string& options, const std::filesystem::path& log,
                 const std::vector<std::string>& environment = {});
  ~daemon_process();
  daemon_process(const daemon_process&) = delete;
  daemon_process& operator=(const daemon_process&) = delete;

  // True once mounted; false if the daemon exited first or time ran out.
  bool wait_mounted(std::chrono::seconds timeout = std::chrono::seconds(10));
  // fusermount3 -u, then the daemon's exit code (-1 on timeout, 128+N for signal N).
  int unmount_and_wait(std::chrono::seconds timeout = std::chrono::seconds(300));
  int wait_exit(std::chrono::seconds timeout = std::chrono::seconds(300));
  void send(int signal);
  // The daemon's peak resident memory over its whole life (final commit
  // included), known once it has exited and been reaped; nullopt before.
  std::optional<std::uint64_t> peak_rss_kib() const noexcept { return peak_rss_kib_; }
  std::string log() const;
  pid_t pid() const noexcept { return pid_; }

 private:
  std::filesystem::path mountpoint_;
  std::filesystem::path log_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::optional<std::uint64_t> peak_rss_kib_;
  bool reap(int options);
};

bool is_mounted(const std::filesystem::path& mountpoint);
// A figure of /proc/PID/status in KiB, as VmRSS (resident now) or VmHWM (the
// most resident so far). One that cannot be read fails the test (and is 0).
std::uint64_t memory_kib(pid_t pid, const std::string& key);
// Why FUSE mounts cannot work here (no usable /dev/fuse, no fusermount3), or
// nullopt when they can: mount tests skip with this message.
std::optional<std::string> why_mounts_cannot_work();
std::string daemon_binary();

}  // namespace sevenzfs::test
