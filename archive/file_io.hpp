#pragma once
// File descriptors and the positioned I/O every part of sevenzfs uses: one
// place that retries EINTR and short transfers, and turns failures into
// archive_error(io) carrying the path and the failed call's errno.
#include <cstdint>
#include <span>
#include <string>
#include <utility>

namespace sevenzfs::archive {

// Owns one descriptor; closes it on destruction. Move-only.
class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept;
  ~unique_fd();
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  void reset() noexcept;

 private:
  int fd_ = -1;
};

// Reads up to out.size() bytes at `offset`; fewer only at the end of the
// file. Returns the bytes read.
std::size_t read_at(int fd, std::uint64_t offset, std::span<std::uint8_t> out, const std::string& path);
// Reads up to out.size() bytes from the current position; 0 at the end.
std::size_t read_some(int fd, std::span<std::uint8_t> out, const std::string& path);
// Writes all of `data` at `offset`.
void write_at(int fd, std::uint64_t offset, std::span<const std::uint8_t> data, const std::string& path);
void sync_file(int fd, const std::string& path);
// The directory holding `path`, open to be fsynced (after a rename or
// unlink in it); throws archive_error(io).
unique_fd open_directory_of(const std::string& path);
// fsyncs the directory holding `path`.
void sync_directory_of(const std::string& path);
std::string directory_of(const std::string& path);

}  // namespace sevenzfs::archive
