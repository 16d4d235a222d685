#include "spill_file.hpp"

#include "archive/archive_error.hpp"
#include "archive/file_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace sevenzfs::fs {

spill_file::spill_file(const std::string& archive_path) {
  std::string name = archive_path + ".spill.tmp-XXXXXX";
  fd_ = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd_ < 0) archive::throw_io_error(name, "cannot create a spill file", errno);
  ::unlink(name.c_str());  // nameless: gone with the last descriptor, also after a crash
}

spill_file::~spill_file() {
  if (fd_ >= 0) ::close(fd_);
}

spill_file::spill_file(spill_file&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

int spill_file::write(std::uint64_t offset, std::span<const std::byte> data) {
  try {
    archive::write_at(fd_, offset, {reinterpret_cast<const std::uint8_t*>(data.data()), data.size()}, "spill file");
  } catch (const archive::archive_error& e) {
    return e.error_number();
  }
  return 0;
}

int spill_file::read(std::uint64_t offset, std::span<std::byte> out) const {
  try {
    const std::size_t n =
        archive::read_at(fd_, offset, {reinterpret_cast<std::uint8_t*>(out.data()), out.size()}, "spill file");
    std::memset(out.data() + n, 0, out.size() - n);
  } catch (const archive::archive_error& e) {
    return e.error_number();
  }
  return 0;
}

int spill_file::truncate(std::uint64_t size) { return ::ftruncate(fd_, static_cast<off_t>(size)) == 0 ? 0 : errno; }

void spill_content::visit(const archive::span_sink& sink) const { visit_range(0, size_, sink); }

void spill_content::visit_range(std::uint64_t offset, std::uint64_t size, const archive::span_sink& sink) const {
  thread_local std::vector<std::byte> buffer(1 << 20);
  const std::uint64_t end = std::min(size_, offset + std::min(size, size_));
  for (std::uint64_t at = offset; at < end;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), end - at));
    if (const int error = file_.read(at, std::span(buffer.data(), n)); error != 0) {
      archive::throw_io_error(path_, "cannot read the spilled content", error);
    }
    sink(std::span(reinterpret_cast<const std::uint8_t*>(buffer.data()), n));
    at += n;
  }
}

}  // namespace sevenzfs::fs
