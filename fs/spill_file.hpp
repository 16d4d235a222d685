#pragma once
// The content of a file that outgrew the staging pool while still open for
// writing: an unlinked temporary file beside the archive (same filesystem,
// so the space the archive will need is there). Its pages live in the page
// cache, not in the daemon's memory; it disappears when closed.
#include "archive/entry.hpp"

#include <cstdint>
#include <span>
#include <string>

namespace sevenzfs::fs {

class spill_file {
 public:
  // Creates it beside `archive_path`; throws archive_error(io) on failure.
  explicit spill_file(const std::string& archive_path);
  ~spill_file();
  spill_file(spill_file&& other) noexcept;
  spill_file& operator=(spill_file&&) = delete;
  spill_file(const spill_file&) = delete;
  spill_file& operator=(const spill_file&) = delete;

  // Return an errno (0 on success).
  int write(std::uint64_t offset, std::span<const std::byte> data);
  int read(std::uint64_t offset, std::span<std::byte> out) const;  // the whole span (zeros past the end)
  int truncate(std::uint64_t size);

 private:
  int fd_ = -1;
};

// Adapts a spill file to archive/'s entry_content.
class spill_content final : public archive::entry_content {
 public:
  spill_content(const spill_file& file, std::uint64_t size, std::string path)
      : file_(file), size_(size), path_(std::move(path)) {}
  void visit(const archive::span_sink& sink) const override;
  // Reads only the range: parts of a large spilled file are compressed apart.
  void visit_range(std::uint64_t offset, std::uint64_t size, const archive::span_sink& sink) const override;

 private:
  const spill_file& file_;
  std::uint64_t size_;
  std::string path_;
};

}  // namespace sevenzfs::fs
