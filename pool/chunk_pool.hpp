#pragma once
// A fixed memory budget carved up front into equal chunks. Free chunks are
// kept in a lock-free stack of chunk indices (Boost.Lockfree, capacity
// reserved at construction, bounded_push: no allocation after start-up), so
// threads acquire and release without locks. When no chunk is free, acquire()
// sleeps on a condition variable (never spins) until a release or shutdown;
// the mutex is touched only when no chunk is free (try_acquire too) and by
// releases while someone waits. waiting() exposes the pressure so the
// daemon can compress early.
// Pages stay resident once written, also while their chunk is free, until
// return_free_memory() gives them back.

#include <boost/lockfree/stack.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

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

class chunk_pool {
 public:
  // `budget_bytes` is rounded down to whole chunks (at least one).
  chunk_pool(std::size_t budget_bytes, std::size_t chunk_bytes);
  ~chunk_pool();
  chunk_pool(const chunk_pool&) = delete;
  chunk_pool& operator=(const chunk_pool&) = delete;

  // Chunks are handed out by index: the staging store tracks which of its
  // files use a chunk and gives it back when none does.
  // Nullopt when the pool is full; waits only while return_free_memory has
  // the free chunks off the stack.
  std::optional<std::uint32_t> try_acquire() noexcept;
  std::optional<std::uint32_t> acquire() noexcept;  // waits; nullopt after shutdown()
  void release(std::uint32_t index) noexcept;

  // Wakes every waiter; from then on acquires that would wait fail.
  void shutdown() noexcept;

  // Gives the pages of the free chunks back to the kernel (the next write
  // to one faults in a zeroed page): for a pool at rest, whose touched
  // part would otherwise stay in the daemon's RSS. The free chunks are off
  // the stack meanwhile, a batch of them at a time coming back; acquirers
  // that find it empty wait for them (try_acquire too: the pool is not
  // full). Returns how many free chunks were given back. One at a time.
  std::size_t return_free_memory() noexcept;

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
  std::optional<std::uint32_t> pop() noexcept;  // a free chunk, noted as acquired
  // madvise(MADV_DONTNEED) the pages wholly inside runs of these free chunks
  // (with chunks that are not whole pages, a page at a run's edge holds
  // bytes of a chunk in use).
  void advise_free(std::span<const std::uint32_t> sorted) noexcept;

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
  std::atomic<bool> returning_{false};  // return_free_memory holds the free chunks
  std::mutex wait_mutex_;
  std::condition_variable chunk_released_;
  std::mutex return_mutex_;
  std::vector<std::uint32_t> returned_;  // return_free_memory's chunks, reserved for all of them
};

}  // namespace sevenzfs::pool
