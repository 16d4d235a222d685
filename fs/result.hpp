#pragma once
// The one error model of fs/. An operation returns result<T>: a value, or an
// fs_error carrying the errno to reply with and, when the failure deserves
// one, a message. A failure without a message is an ordinary answer (ENOENT
// for a lookup, EEXIST for a create) and is not logged; one with a message is
// logged once, at the FUSE boundary. Failures of the machinery below
// (archive::archive_error from I/O or a damaged archive) are exceptions; the
// FUSE boundary turns them into their errno and a log line the same way.
#include <expected>
#include <string>

namespace sevenzfs::fs {

struct fs_error {
  int code = 0;         // a positive errno
  std::string message;  // empty: the errno says it all
};

template <typename T>
using result = std::expected<T, fs_error>;

inline std::unexpected<fs_error> failure(int code, std::string message = {}) {
  return std::unexpected(fs_error{code, std::move(message)});
}

}  // namespace sevenzfs::fs
