#pragma once
// A new archive is written under a temporary name in the destination's
// directory and only renamed over the final name once complete and fsynced
// (followed by an fsync of the directory), so a crash or an error never
// leaves a half-written archive under the final name. Destroying an
// uncommitted output_file removes the temporary.
//
// Permissions: the temporary is 0600 while it is written (a pending file
// that is never committed stays so). commit() gives it, just before the
// rename, the mode and owner of the archive it replaces, or 0666 & ~umask
// for a new archive — as any program creating a file would, so that what
// users keep private in the mount is not readable by others in the archive.
#include "file_io.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sevenzfs::archive {

class output_file {
 public:
  // Creates `final_path`'s temporary sibling; throws archive_error(io) naming
  // the directory when it does not exist or is not writable.
  explicit output_file(std::string final_path);
  // Opens an existing file for writing in place (appending to an archive):
  // nothing is renamed or removed; the append position starts at its end.
  static output_file in_place(const std::string& path);
  output_file(output_file&& other) noexcept;
  ~output_file();
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;

  void append(std::span<const std::uint8_t> data);
  void write_at(std::uint64_t offset, std::span<const std::uint8_t> data);
  void truncate(std::uint64_t size);  // also moves the append position
  std::uint64_t position() const noexcept { return position_; }
  // The descriptor, and the name the file has now (the temporary one until committed).
  int fd() const noexcept { return fd_.get(); }
  const std::string& current_path() const noexcept {
    return committed_ || temp_path_.empty() ? final_path_ : temp_path_;
  }
  void set_position(std::uint64_t position) noexcept { position_ = position; }
  void sync();
  // A second, read-only descriptor of this file, for reading what is
  // written once it is committed: taken before the commit point, it cannot
  // fail after it or name another file, as opening the final path again
  // could. Throws archive_error(io) (descriptors ran out).
  // SEVENZFS_TEST_REFUSE_READER=N makes the N-th call, counted while it is
  // set, fail so.
  unique_fd reader() const;
  // Appends `size` bytes at `offset` of the file open on `source` (kept
  // packed data carried into a rewritten archive), through the kernel's
  // copy_file_range where it can.
  void append_copy(int source, std::uint64_t offset, std::uint64_t size, const std::string& source_path);

  // Mode and owner as above, fsync, rename over the final path, fsync the
  // directory. SEVENZFS_TEST_FAIL_DIRECTORY_SYNC=N makes the N-th directory
  // fsync, counted while it is set, fail (after the rename).
  void commit();
  // The rename of commit() went through (whatever failed after it).
  bool renamed() const noexcept { return committed_; }

 private:
  std::string final_path_;
  std::string temp_path_;
  unique_fd fd_;
  std::uint64_t position_ = 0;
  bool committed_ = false;

  output_file() = default;
  void set_final_permissions();
};

// Removes the temporaries of this process's output_files not yet committed
// or destroyed: for a program ending on a signal, where no destructor runs
// (sevenzfs-pack on Ctrl-C). Their descriptors stay open. Thread-safe.
void remove_unfinished_outputs() noexcept;

// Appends ranges of other files to `out` in the order given, joining a
// range that continues the one before in the same file: the folders of a
// pending file, written one after another, then go over in one
// copy_file_range, not one per folder (per file when batched). `out`'s
// position counts what was added only after flush().
class joined_copy {
 public:
  explicit joined_copy(output_file& out) : out_(out) {}
  void add(int source, std::uint64_t offset, std::uint64_t size, std::string_view source_path);
  void flush();

 private:
  output_file& out_;
  int source_ = -1;
  std::uint64_t offset_ = 0;
  std::uint64_t size_ = 0;
  std::string_view path_;
};

// Removes what crashed writers left beside `final_path`: files named
// `NAME.tmp-XXXXXX` (a temporary archive), `NAME.pending.tmp-XXXXXX`
// (pending packs) and `NAME<kind>.tmp-XXXXXX` for each of `other_kinds`
// (".spill", say), not `NAME.<anything>.tmp-XXXXXX`: that may be the
// temporary of another archive whose name begins with this one's, mounted
// now. Only while no writer can be at work (the daemon holds the archive's
// lock). Returns the paths removed.
std::vector<std::string> remove_leftovers(const std::string& final_path,
                                          std::span<const std::string_view> other_kinds = {});

}  // namespace sevenzfs::archive
