#include "archive_error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace sevenzfs::archive {

namespace {

std::string compose(const std::string& path, const std::string& message) {
  return path.empty() ? message : fmt::format("{}: {}", path, message);
}

int usual_errno(error_kind kind) noexcept {
  switch (kind) {
    case error_kind::invalid_name: return EILSEQ;
    case error_kind::invalid_input:
    case error_kind::invalid_option: return EINVAL;
    case error_kind::unsupported: return EOPNOTSUPP;
    case error_kind::io:
    case error_kind::compression:
    case error_kind::corrupt_archive: return EIO;
  }
  return EIO;
}

}  // namespace

archive_error::archive_error(error_kind kind, std::string path, const std::string& message, int errnum)
    : std::runtime_error(compose(path, message)),
      kind_(kind),
      path_(std::move(path)),
      errnum_(errnum != 0 ? errnum : usual_errno(kind)) {}

void throw_io_error(const std::string& path, const std::string& what, int errnum) {
  throw archive_error(error_kind::io, path, fmt::format("{}: {}", what, std::strerror(errnum)), errnum);
}

archive_error about_file(const archive_error& error, const std::string& file) {
  // An error that already names the file, by that path or a longer one on
  // disk (sevenzfs-pack reads "/src/dd/f4" for "dd/f4"), would name it twice.
  if (error.path() == file || error.path().ends_with("/" + file)) return error;
  std::string message = error.what();
  const std::string prefix = error.path() + ": ";
  if (!error.path().empty() && message.starts_with(prefix)) message.erase(0, prefix.size());
  return archive_error(error.kind(), error.path(), fmt::format("{}: {}", file, message), error.error_number());
}

}  // namespace sevenzfs::archive
