#pragma once
// Staging of file contents in pool memory until they are compressed.
//
// Design: one append-only log of 64 KiB pool chunks shared by all files.
// A write's new bytes are carved from the log's open chunk with a bump
// pointer (split at chunk ends, never padded), so a 100-byte file costs 100
// bytes of chunk memory, not a chunk. Each file keeps a sorted list of
// "pieces" (file offset -> chunk, offset, length; 16 bytes each, one held
// inline) that cover its written ranges; ranges never written are holes that
// read as zeros. Overwrites of covered ranges happen in place; appends that
// continue the file's last piece at the log tail just extend that piece.
// Per file that is sizeof(staged_file) (64 bytes) plus its bytes.
//
// Memory goes back as soon as it is dead: each chunk counts its live bytes
// (plus an "open" bit while the log still appends to it), and the thread
// whose release brings the count to zero returns the chunk to the pool. So
// truncating, deleting or releasing a file after compressing it frees every
// chunk no other staged file still uses; the daemon compresses and releases
// files in batches, which keeps such sharing short-lived. A file that
// outgrows the pool is the daemon's business: it moves it to disk, reading
// it out with for_each_span() and then releasing it.
//
// Threads: operations on different files run concurrently (the log tail has
// one short mutex; chunk memory and counters are lock-free); one file must
// not be changed by one thread while another uses it (the daemon holds its
// inode's lock); reads of a file nobody changes may run side by side.
// Writes wait for memory when the pool is full (backpressure) and return a
// short count only after chunk_pool::shutdown() — or, when the caller asks
// (memory_wait::fail_fast), at once, so it can make room without holding
// its own locks while it waits.
#include "chunk_pool.hpp"

#include <boost/container/small_vector.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

namespace sevenzfs::pool {

inline constexpr std::size_t kStagingChunkBytes = 64 * 1024;

// Size classes reported in the statistics.
inline constexpr std::uint64_t kSmallFileLimit = 16 * 1024;     // below: small
inline constexpr std::uint64_t kMediumFileLimit = 1024 * 1024;  // below: medium; from here: large

struct staging_stats {
  std::uint64_t files = 0;  // staged_file objects alive
  std::uint64_t bytes = 0;  // sum of their sizes (holes included)
  std::uint64_t small_files = 0;
  std::uint64_t medium_files = 0;
  std::uint64_t large_files = 0;
  std::uint64_t live_bytes = 0;  // bytes held in chunks
};

class staging_store;

class staged_file {
 public:
  explicit staged_file(staging_store& store) noexcept;
  ~staged_file();
  staged_file(staged_file&& other) noexcept;
  staged_file& operator=(staged_file&&) = delete;
  staged_file(const staged_file&) = delete;
  staged_file& operator=(const staged_file&) = delete;

  std::uint64_t size() const noexcept { return size_; }
  std::size_t piece_count() const noexcept { return pieces_.size(); }

 private:
  friend class staging_store;
  struct piece {
    std::uint64_t file_offset;
    std::uint32_t chunk;
    std::uint16_t chunk_offset;
    std::uint16_t length_minus_one;  // 1 to 65536 bytes
    std::uint64_t length() const noexcept { return std::uint64_t{length_minus_one} + 1; }
    std::uint64_t end() const noexcept { return file_offset + length(); }
  };
  staging_store* store_;
  std::uint64_t size_ = 0;
  // Sorted, non-overlapping. One inline: most small files are one piece;
  // a file spanning chunks puts its pieces on the heap (once per growth).
  boost::container::small_vector<piece, 1> pieces_;
};

// The per-file cost the memory target is built on (see the top comment).
static_assert(sizeof(staged_file) <= 64);

class staging_store {
 public:
  // `chunks` must have kStagingChunkBytes chunks; the store takes chunks from
  // it as needed and gives them back when dead.
  explicit staging_store(chunk_pool& chunks);
  ~staging_store();
  staging_store(const staging_store&) = delete;
  staging_store& operator=(const staging_store&) = delete;

  // Copies `data` to `offset`; returns the bytes written. With
  // memory_wait::block it waits for free chunks and writes less only after the
  // pool was shut down; with memory_wait::fail_fast it stops where no chunk is
  // free at once (the caller can make room and continue).
  enum class memory_wait { block, fail_fast };
  std::size_t write(staged_file& file, std::uint64_t offset, std::span<const std::byte> data,
                    memory_wait wait = memory_wait::block) noexcept;
  // Copies up to out.size() bytes from `offset` (holes read as zeros); returns
  // the bytes read (0 at or past the end).
  std::size_t read(const staged_file& file, std::uint64_t offset, std::span<std::byte> out) const noexcept;
  // Shrinks (freeing what lies beyond) or grows (a hole) the file.
  void truncate(staged_file& file, std::uint64_t new_size) noexcept;
  // Frees everything; the file becomes empty.
  void clear(staged_file& file) noexcept;

  // Zero-copy hand-off: calls `sink` with the file's bytes in order, as spans
  // of pool memory (holes as spans of zeros).
  void for_each_span(const staged_file& file, const std::function<void(std::span<const std::byte>)>& sink) const;

  staging_stats stats() const noexcept;

 private:
  friend class staged_file;
  static constexpr std::uint32_t kOpenFlag = 1u << 31;
  static constexpr std::uint32_t kNoChunk = UINT32_MAX;

  struct allocation {
    std::uint32_t chunk;
    std::uint32_t offset;
    std::uint32_t length;
  };
  // Up to `wanted` bytes from the log tail (fewer at a chunk end); nullopt
  // after shutdown, or when no chunk is free and `wait` is fail_fast.
  std::optional<allocation> allocate(std::uint64_t wanted, memory_wait wait) noexcept;
  void free_bytes(std::uint32_t chunk, std::uint64_t bytes) noexcept;
  void set_size(staged_file& file, std::uint64_t new_size) noexcept;
  void count_class(std::uint64_t size, int delta) noexcept;
  void insert_piece(staged_file& file, std::size_t position, staged_file::piece p);
  void file_created() noexcept;
  void file_destroyed(staged_file& file) noexcept;

  chunk_pool& chunks_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> live_;  // per chunk: live bytes | kOpenFlag

  std::mutex tail_mutex_;
  std::uint32_t tail_chunk_ = kNoChunk;
  std::uint32_t tail_used_ = 0;

  std::atomic<std::uint64_t> files_{0};
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::uint64_t> live_bytes_{0};
  std::atomic<std::uint64_t> class_counts_[3] = {};
};

}  // namespace sevenzfs::pool
