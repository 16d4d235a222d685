#pragma once
// A file's bytes, wherever they are: nowhere yet (empty), staged in the pool,
// spilled to an unlinked file beside the archive (a file that outgrew the
// pool while open for writing), held in memory (a symlink's target), or only
// in the archive (committed earlier). It also remembers which archive stream
// holds the file's last committed copy, and whether the local bytes differ
// from it.
//
// Not thread-safe: the owning inode's lock serializes every call.
#include "result.hpp"
#include "spill_file.hpp"

#include "archive/entry.hpp"
#include "pool/staging_store.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>

namespace sevenzfs::fs {

// What content operations need from the daemon.
struct content_services {
  pool::staging_store& store;
  std::string spill_prefix;  // spill files are created as <spill_prefix>.spill-XXXXXX
};

class file_content {
 public:
  file_content() = default;
  // Content that only the archive holds: stream `stream`, `size` bytes.
  void set_archived(std::uint64_t stream, std::uint64_t size);
  // A symlink's target, held in memory.
  void hold(std::string bytes);

  std::uint64_t size() const noexcept;
  // The local bytes differ from the archive's copy (or there is none yet).
  bool dirty() const noexcept { return dirty_; }
  std::optional<std::uint64_t> archived_stream() const noexcept { return stream_; }
  // Bytes of pool memory this content holds (what spilling it would free).
  std::uint64_t staged_bytes() const noexcept;
  // Only the archive holds the bytes: they cannot be read back yet.
  bool only_archived() const noexcept;

  result<std::size_t> read(const content_services& services, std::uint64_t offset, std::span<std::byte> out) const;
  // Writes at `offset`; fewer bytes (maybe none) when the pool has no free
  // chunk at once: the caller makes room and writes the rest.
  result<std::size_t> write(content_services& services, std::uint64_t offset, std::span<const std::byte> data);
  result<void> truncate(content_services& services, std::uint64_t size);
  // Moves staged bytes to a spill file (throws archive_error on I/O failure).
  void spill(content_services& services);

  // What a commit archives for this file: its bytes as the compressor reads
  // them, valid while the commit holds the file still.
  std::shared_ptr<const archive::entry_content> commit_source(const content_services& services,
                                                              const std::string& path) const;
  // The commit made `stream` the archive's copy of these bytes (nullopt: the
  // file was committed empty). Local bytes are dropped unless `keep_local`.
  void committed(std::optional<std::uint64_t> stream, bool keep_local);

 private:
  struct nothing {};
  struct in_pool {
    pool::staged_file file;
  };
  struct on_disk {
    spill_file file;
    std::uint64_t size = 0;
  };
  struct held {
    std::string bytes;
  };
  // Makes the local bytes writable (an empty staged file if there are none).
  in_pool* ensure_writable(content_services& services);

  std::variant<nothing, in_pool, on_disk, held> local_;
  std::optional<std::uint64_t> stream_;  // the archive's copy
  std::uint64_t archived_size_ = 0;
  bool dirty_ = false;
};

}  // namespace sevenzfs::fs
