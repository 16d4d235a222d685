#include "archive_error.hpp"

#include <fmt/format.h>

#include <cstring>

namespace sevenzfs::archive {

namespace {
std::string compose(const std::string& path, const std::string& message) {
  return path.empty() ? message : fmt::format("{}: {}", path, message);
}
}  // namespace

archive_error::archive_error(error_kind kind, std::string path, const std::string& message)
    : std::runtime_error(compose(path, message)), kind_(kind), path_(std::move(path)) {}

void throw_io_error(const std::string& path, const std::string& what, int errnum) {
  throw archive_error(error_kind::io, path, fmt::format("{}: {}", what, std::strerror(errnum)));
}

}  // namespace sevenzfs::archive
