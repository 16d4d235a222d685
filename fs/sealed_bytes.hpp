#pragma once
// A closed file's bytes once they are handed to the streaming compressor
// ("sealed"): they no longer change — a later write copies them back into
// the pool first (file_content re-stages) — so the compressor can read them
// on a worker thread without the file's lock. Once compressed and written to
// a pending file, the staged memory (or the spill file) is released and
// reads decode the pending copy instead, found through the locator.
//
// A commit also seals the bytes of a file it compresses itself (one still
// open for writing, say) so that writers can go on meanwhile; such bytes are
// never handed to the streamer, and the file takes them back afterwards
// (take_back) instead of copying them.
//
// Thread-safe: a shared mutex guards the bytes between readers (FUSE
// threads, under the inode's lock; the compressor's visits; a commit
// compressing them itself), which run side by side, and release (a
// compression worker, without the inode's lock), which waits for them.
#include "archived_bytes.hpp"
#include "result.hpp"
#include "spill_file.hpp"

#include "archive/cached_reader.hpp"
#include "archive/entry.hpp"
#include "archive/pending_part.hpp"
#include "pool/staging_store.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <variant>

namespace sevenzfs::fs {

// Where a handed-over file can be read once its memory is released.
using pending_locator = std::function<std::optional<archived_bytes>(archive::pending_id)>;

class sealed_bytes final : public archive::entry_content {
 public:
  // `reader` and `locate` read the bytes back after release; both outlive
  // these bytes (the daemon's, shared by every file: a locator each cost 32
  // bytes per file).
  sealed_bytes(pool::staging_store& store, pool::staged_file staged, archive::cached_reader& reader,
               const pending_locator& locate);
  sealed_bytes(spill_file spilled, std::uint64_t size, archive::cached_reader& reader, const pending_locator& locate);
  // A temporary locator would dangle.
  sealed_bytes(pool::staging_store&, pool::staged_file, archive::cached_reader&, pending_locator&&) = delete;
  sealed_bytes(spill_file, std::uint64_t, archive::cached_reader&, pending_locator&&) = delete;

  std::uint64_t size() const noexcept { return size_; }
  // The compressor's id for these bytes, once handed over (0: not yet).
  archive::pending_id id() const noexcept { return id_.load(std::memory_order_acquire); }
  void set_id(archive::pending_id id) noexcept { id_.store(id, std::memory_order_release); }
  // The file let go of these bytes (removed, or changed since it sealed
  // them): the compressor may skip them (see archive::pending_folders).
  void abandon() noexcept { abandoned_.store(true, std::memory_order_release); }
  bool abandoned() const noexcept override { return abandoned_.load(std::memory_order_acquire); }
  // The pool memory (or spill file) is given back.
  bool released() const;
  void release();
  // The staged memory or spill file, moved out, for the file to hold again:
  // only for bytes nobody else reads any more (sealed for a commit that is
  // over). Afterwards this object holds nothing; empty if it held nothing.
  using taken_bytes = std::variant<std::monostate, pool::staged_file, spill_file>;
  taken_bytes take_back();

  // Reads from memory, or after release from the pending copy.
  result<std::size_t> read(std::uint64_t offset, std::span<std::byte> out) const;
  // entry_content: the compressor's read (before release), or a recovery
  // save's (maybe after release: then it decodes the pending copy).
  void visit(const archive::span_sink& sink) const override;
  // Only the range (the compressor reads a large file part by part).
  void visit_range(std::uint64_t offset, std::uint64_t size, const archive::span_sink& sink) const override;

 private:
  struct in_pool {
    pool::staging_store* store;
    pool::staged_file file;
  };
  struct on_disk {
    spill_file file;
  };
  using held_bytes = std::variant<in_pool, on_disk>;

  std::uint64_t size_;
  std::atomic<archive::pending_id> id_{0};
  std::atomic<bool> abandoned_{false};
  mutable std::shared_mutex mutex_;
  // Null once released (or taken back). Behind a pointer: every file handed
  // to the compressor keeps this object until its commit is applied, most of
  // that time released, and the bytes' record (72 bytes) need not stay.
  std::unique_ptr<held_bytes> bytes_;
  archive::cached_reader& reader_;
  const pending_locator& locate_;
};

}  // namespace sevenzfs::fs
