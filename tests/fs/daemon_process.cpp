#include "daemon_process.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

namespace sevenzfs::test {

std::string daemon_binary() { return SEVENZFS_DAEMON_BINARY; }

std::uint64_t memory_kib(pid_t pid, const std::string& key) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(key + ":")) return std::stoull(line.substr(key.size() + 1));
  }
  ADD_FAILURE() << "no " << key << " for " << pid;
  return 0;
}

bool is_mounted(const std::filesystem::path& mountpoint) {
  std::ifstream mounts("/proc/self/mounts");
  std::string device, point, rest;
  while (mounts >> device >> point) {
    std::getline(mounts, rest);
    if (point == mountpoint.string()) return true;
  }
  return false;
}

std::optional<std::string> why_mounts_cannot_work() {
  if (::access("/dev/fuse", R_OK | W_OK) != 0) {
    return "FUSE is not available (/dev/fuse missing or not accessible): mount tests skipped";
  }
  if (run("command -v fusermount3").exit_code != 0) return "fusermount3 is not installed: mount tests skipped";
  return std::nullopt;
}

daemon_process::daemon_process(const std::filesystem::path& archive, const std::filesystem::path& mountpoint,
                               const std::string& options, const std::filesystem::path& log,
                               const std::vector<std::string>& environment)
    : mountpoint_(mountpoint), log_(log) {
  // A recovery archive that does not fit beside the archive goes into the
  // test's directory, not the machine's /var/tmp (the test's own -o, later,
  // may say otherwise).
  std::vector<std::string> args{daemon_binary(), "-f", "-o", "recovery_dir=" + log.parent_path().string()};
  if (!options.empty()) {
    args.emplace_back("-o");
    args.push_back(options);
  }
  args.push_back(archive.string());
  args.push_back(mountpoint.string());
  pid_ = ::fork();
  if (pid_ == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    for (const auto& variable : environment) ::putenv(const_cast<char*>(variable.c_str()));
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
}

daemon_process::~daemon_process() {
  if (exit_code_) return;
  run("fusermount3 -u -z " + quote(mountpoint_.string()) + " 2>/dev/null");
  if (wait_exit(std::chrono::seconds(60)) == -1) {
    ::kill(pid_, SIGKILL);
    reap(0);
  }
}

// Reaps the daemon if it has exited, keeping its exit code and peak RSS.
bool daemon_process::reap(int options) {
  int status = 0;
  struct rusage usage {};
  if (::wait4(pid_, &status, options, &usage) != pid_) return false;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  peak_rss_kib_ = static_cast<std::uint64_t>(usage.ru_maxrss);  // KiB on Linux
  return true;
}

bool daemon_process::wait_mounted(std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (is_mounted(mountpoint_)) return true;
    if (reap(WNOHANG)) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int daemon_process::wait_exit(std::chrono::seconds timeout) {
  if (exit_code_) return *exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (reap(WNOHANG)) return *exit_code_;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

int daemon_process::unmount_and_wait(std::chrono::seconds timeout) {
  run("fusermount3 -u " + quote(mountpoint_.string()));
  return wait_exit(timeout);
}

void daemon_process::send(int signal) { ::kill(pid_, signal); }

std::string daemon_process::log() const { return read_file(log_); }

}  // namespace sevenzfs::test
