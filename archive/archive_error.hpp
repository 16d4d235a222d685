#pragma once
// The one error type of archive/: every failure carries what went wrong, a
// category a caller can branch on, the path it concerns, and the errno that
// describes it best (an I/O error keeps the errno of the failed call, so a
// full disk reaches the daemon's caller as ENOSPC, not as a generic EIO).
#include <stdexcept>
#include <string>
#include <string_view>

namespace sevenzfs::archive {

// Ends the message of a failure after which no commit is made until the
// archive is opened again (it holds a commit its writer could not take in,
// or another file replaced it), so that a control program can tell its user
// that retrying is in vain.
inline constexpr std::string_view kNoCommitUntilRemount = "no commit is made until it is mounted again";

enum class error_kind {
  io,               // read/write/fsync/rename failed (its errno is kept)
  invalid_name,     // a name that cannot be stored (not UTF-8, empty, ...)
  invalid_input,    // an input that cannot be archived (unsupported file type, ...)
  invalid_option,   // an option value out of range
  compression,      // liblzma refused or failed
  corrupt_archive,  // an existing archive that is not a valid 7z, or data that fails its CRC
  unsupported,      // valid 7z that uses something not implemented (a method, a header feature)
};

class archive_error : public std::runtime_error {
 public:
  // `errnum` 0 means: the usual errno of `kind` (see error_number()).
  archive_error(error_kind kind, std::string path, const std::string& message, int errnum = 0);

  error_kind kind() const noexcept { return kind_; }
  const std::string& path() const noexcept { return path_; }
  // The errno for a caller that must report one: the failed call's errno for
  // io errors; EILSEQ for names; EINVAL for inputs and options; EIO for
  // compression and corrupt data; EOPNOTSUPP for unsupported features.
  int error_number() const noexcept { return errnum_; }

 private:
  error_kind kind_;
  std::string path_;
  int errnum_;
};

// `error` with the file it concerns in its message (after its path: the
// archive's or a pending file's, whose streams may be named by number);
// `error` as it is when its path already names that file.
archive_error about_file(const archive_error& error, const std::string& file);

// Throws an io archive_error for `path` with strerror(errnum) appended.
[[noreturn]] void throw_io_error(const std::string& path, const std::string& what, int errnum);

}  // namespace sevenzfs::archive
