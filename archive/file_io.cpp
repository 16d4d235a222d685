#include "file_io.hpp"

#include "archive_error.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace sevenzfs::archive {

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

unique_fd::~unique_fd() { reset(); }

void unique_fd::reset() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::size_t read_at(int fd, std::uint64_t offset, std::span<std::uint8_t> out, const std::string& path) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_io_error(path, "cannot read", errno);
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

std::size_t read_some(int fd, std::span<std::uint8_t> out, const std::string& path) {
  for (;;) {
    const ssize_t n = ::read(fd, out.data(), out.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_io_error(path, "cannot read", errno);
    return static_cast<std::size_t>(n);
  }
}

void write_at(int fd, std::uint64_t offset, std::span<const std::uint8_t> data, const std::string& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_io_error(path, "cannot write", errno);
    done += static_cast<std::size_t>(n);
  }
}

void sync_file(int fd, const std::string& path) {
  if (::fsync(fd) != 0) throw_io_error(path, "cannot fsync", errno);
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

unique_fd open_directory_of(const std::string& path) {
  const std::string directory = directory_of(path);
  unique_fd dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) throw_io_error(directory, "cannot open directory to fsync it", errno);
  return dir;
}

void sync_directory_of(const std::string& path) { sync_file(open_directory_of(path).get(), directory_of(path)); }

}  // namespace sevenzfs::archive
