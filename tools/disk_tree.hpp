#pragma once
// Turns command-line paths into archive entries the way `7zz a` does: a file
// is stored under its own name, a directory under its own name with
// everything below it, symlinks as links (followed only where a path given
// names one with a trailing slash, "link/", as cp -r and tar do). File contents are
// read from disk only when the writer asks for them.
#include "archive/entry.hpp"

#include <string>
#include <vector>

namespace sevenzfs::tools {

// Reads a regular file in chunks on each visit.
class disk_file_content final : public archive::entry_content {
 public:
  explicit disk_file_content(std::string path) : path_(std::move(path)) {}
  void visit(const archive::span_sink& sink) const override;

 private:
  std::string path_;
};

// Walks `inputs`; throws archive_error naming the path for a missing or
// unreadable input, an unsupported file type (device, FIFO, socket) or two
// inputs that would share an archive path.
std::vector<archive::entry> collect_entries(const std::vector<std::string>& inputs);

}  // namespace sevenzfs::tools
