#pragma once
// The one error type of archive/: every failure carries what went wrong,
// a category a caller can branch on, and the path it concerns.
#include <stdexcept>
#include <string>

namespace sevenzfs::archive {

enum class error_kind {
  io,              // read/write/fsync/rename failed (errno in the message)
  invalid_name,    // a name that cannot be stored (not UTF-8, empty, ...)
  invalid_input,   // an input that cannot be archived (unsupported file type, ...)
  invalid_option,  // an option value out of range
  compression,     // liblzma refused or failed
  corrupt_archive, // an existing archive that is not a valid 7z
};

class archive_error : public std::runtime_error {
 public:
  archive_error(error_kind kind, std::string path, const std::string& message);

  error_kind kind() const noexcept { return kind_; }
  const std::string& path() const noexcept { return path_; }

 private:
  error_kind kind_;
  std::string path_;
};

// Throws an io archive_error for `path` with strerror(errnum) appended.
[[noreturn]] void throw_io_error(const std::string& path, const std::string& what, int errnum);

}  // namespace sevenzfs::archive
