#pragma once
// A fixed memory budget carved up front into equal chunks. Free chunks are
// kept in a lock-free stack of chunk indices (Boost.Lockfree, capacity
// reserved at construction, bounded_push: no allocation after start-up), so
// threads acquire and release without locks. When no chunk is free, acquire()
// sleeps on a condition variable (never spins) until a release or shutdown;
// the mutex is touched only on that slow path and by releases while someone
// waits. waiting() exposes the pressure so the daemon can compress early.
//
// Nothing in it is specific to staging: with chunks the size of a
// compression part it is a thread-safe buffer pool for several workers
// (tested so); the compressor does not use it yet.
#include <boost/lockfree/stack.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>

namespace sevenzfs::pool {

struct pool_stats {
  std::uint64_t chunk_bytes = 0;
  std::uint64_t chunks_total = 0;
  std::uint64_t chunks_free = 0;
  std::uint64_t chunks_high_water = 0;  // most chunks in use at once
  std::uint64_t acquires = 0;
  std::uint64_t waits = 0;  // acquires that had to wait
  std::uint64_t wait_nanoseconds = 0;
  std::uint64_t waiting_now = 0;
};

class chunk_pool;

// Owns one chunk and gives it back on destruction. Move-only.
class chunk_handle {
 public:
  chunk_handle() = default;
  chunk_handle(chunk_pool& pool, std::uint32_t index) noexcept : pool_(&pool), index_(index) {}
  chunk_handle(chunk_handle&& other) noexcept;
  chunk_handle& operator=(chunk_handle&& other) noexcept;
  ~chunk_handle() { reset(); }

  std::span<std::byte> bytes() const noexcept;
  std::uint32_t index() const noexcept { return index_; }
  explicit operator bool() const noexcept { return pool_ != nullptr; }
  void reset() noexcept;

 private:
  chunk_pool* pool_ = nullptr;
  std::uint32_t index_ = 0;
};

class chunk_pool {
 public:
  // `budget_bytes` is rounded down to whole chunks (at least one).
  chunk_pool(std::size_t budget_bytes, std::size_t chunk_bytes);
  ~chunk_pool();
  chunk_pool(const chunk_pool&) = delete;
  chunk_pool& operator=(const chunk_pool&) = delete;

  // Handle-based use (compression workers).
  std::optional<chunk_handle> try_acquire() noexcept;
  std::optional<chunk_handle> acquire() noexcept;  // nullopt only after shutdown()

  // Index-based use (the staging store tracks chunk ownership itself).
  std::optional<std::uint32_t> try_acquire_index() noexcept;
  std::optional<std::uint32_t> acquire_index() noexcept;  // waits; nullopt after shutdown()
  void release_index(std::uint32_t index) noexcept;

  // Wakes every waiter; from then on acquires that would wait fail.
  void shutdown() noexcept;

  std::span<std::byte> chunk(std::uint32_t index) const noexcept {
    return {memory_.get() + std::size_t{index} * chunk_bytes_, chunk_bytes_};
  }
  std::size_t chunk_bytes() const noexcept { return chunk_bytes_; }
  std::uint32_t chunk_count() const noexcept { return chunk_count_; }
  std::uint64_t waiting() const noexcept { return waiting_.load(std::memory_order_relaxed); }
  pool_stats stats() const noexcept;

 private:
  struct unmapper {
    std::size_t length;
    void operator()(std::byte* memory) const noexcept;
  };
  void note_acquired() noexcept;

  std::size_t chunk_bytes_;
  std::uint32_t chunk_count_;
  std::unique_ptr<std::byte, unmapper> memory_;
  boost::lockfree::stack<std::uint32_t> free_;

  std::atomic<std::uint64_t> in_use_{0};
  std::atomic<std::uint64_t> high_water_{0};
  std::atomic<std::uint64_t> acquires_{0};
  std::atomic<std::uint64_t> waits_{0};
  std::atomic<std::uint64_t> wait_nanoseconds_{0};
  std::atomic<std::uint64_t> waiting_{0};
  std::atomic<bool> shut_down_{false};
  std::mutex wait_mutex_;
  std::condition_variable chunk_released_;
};

}  // namespace sevenzfs::pool
