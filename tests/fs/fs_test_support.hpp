#pragma once
// Helpers for fs/ unit tests that drive the filesystem directly, without a
// mount: options for a small daemon, a logger that keeps its lines, and
// shorthands for file contents.
#include "fs/daemon_options.hpp"
#include "fs/filesystem.hpp"
#include "fs/log.hpp"

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace sevenzfs::test {

// A small daemon's options: `archive`, a 4 MiB pool, one thread, level 1.
fs::daemon_options small_daemon_options(const std::filesystem::path& archive);

// A logger whose lines a test can inspect.
class captured_log {
 public:
  captured_log();
  fs::logger& logger() noexcept { return logger_; }
  std::vector<std::string> lines() const;
  std::string text() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
  fs::logger logger_;
};

inline std::span<const std::byte> bytes_of_text(const std::string& text) { return std::as_bytes(std::span(text)); }

// The whole content of `number`, read in `chunk`-byte reads.
std::string read_all(fs::filesystem& filesystem, fs::inode_number number, std::size_t chunk = 4096);

// Creates `name` in `parent` with `text` written to it and closes it; returns its inode.
fs::inode_number make_file(fs::filesystem& filesystem, fs::inode_number parent, const std::string& name,
                           const std::string& text, mode_t mode = 0644);

}  // namespace sevenzfs::test
