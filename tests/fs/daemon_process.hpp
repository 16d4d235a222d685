#pragma once
// Runs the sevenzfs daemon in the foreground for a test: waits until the
// mount is there, and always cleans up (lazy unmount, kill, reap) when the
// test is done, also when it failed.
#include <sys/types.h>

#include <chrono>
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
  std::string log() const;
  pid_t pid() const noexcept { return pid_; }

 private:
  std::filesystem::path mountpoint_;
  std::filesystem::path log_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

bool is_mounted(const std::filesystem::path& mountpoint);
std::string daemon_binary();

}  // namespace sevenzfs::test
