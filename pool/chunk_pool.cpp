#include "chunk_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <new>
#include <stdexcept>

namespace sevenzfs::pool {

void chunk_pool::unmapper::operator()(std::byte* memory) const noexcept { ::munmap(memory, length); }

namespace {

std::uint32_t chunks_for(std::size_t budget_bytes, std::size_t chunk_bytes) {
  const std::size_t count = chunk_bytes == 0 ? 0 : budget_bytes / chunk_bytes;
  if (count == 0 || count > UINT32_MAX) throw std::invalid_argument("pool budget must hold 1 to 2^32-1 chunks");
  return static_cast<std::uint32_t>(count);
}

std::byte* map_memory(std::size_t length) {
  // Reserved, not committed: pages become resident as chunks are first
  // written, so an idle pool costs address space, not RSS.
  void* memory = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) throw std::bad_alloc();
  return static_cast<std::byte*>(memory);
}

}  // namespace

chunk_pool::chunk_pool(std::size_t budget_bytes, std::size_t chunk_bytes)
    : chunk_bytes_(chunk_bytes),
      chunk_count_(chunks_for(budget_bytes, chunk_bytes)),
      memory_(map_memory(std::size_t{chunk_count_} * chunk_bytes), unmapper{std::size_t{chunk_count_} * chunk_bytes}),
      free_(chunk_count_) {
  // Highest index pushed first so that chunk 0 is handed out first.
  for (std::uint32_t i = chunk_count_; i > 0; --i) free_.bounded_push(i - 1);
  returned_.reserve(chunk_count_);
}

chunk_pool::~chunk_pool() = default;

void chunk_pool::note_acquired() noexcept {
  acquires_.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t used = in_use_.fetch_add(1, std::memory_order_relaxed) + 1;
  std::uint64_t high = high_water_.load(std::memory_order_relaxed);
  while (used > high && !high_water_.compare_exchange_weak(high, used, std::memory_order_relaxed)) {
  }
}

std::optional<std::uint32_t> chunk_pool::pop() noexcept {
  std::uint32_t index = 0;
  if (!free_.pop(index)) return std::nullopt;
  note_acquired();
  return index;
}

// return_free_memory sets its flag under the lock before it takes the free
// chunks and clears it under the lock after it has put them back: a pop
// that fails, under the lock, while the flag is clear is a full pool.
std::optional<std::uint32_t> chunk_pool::try_acquire() noexcept {
  if (auto index = pop()) return index;
  std::unique_lock lock(wait_mutex_);
  for (;;) {
    const bool returning = returning_.load(std::memory_order_seq_cst);
    if (auto index = pop()) return index;
    if (!returning) return std::nullopt;
    chunk_released_.wait(lock);
  }
}

std::optional<std::uint32_t> chunk_pool::acquire() noexcept {
  if (auto index = try_acquire()) return index;
  const auto started = std::chrono::steady_clock::now();
  waits_.fetch_add(1, std::memory_order_relaxed);
  // Registered as a waiter before the retry under the lock: a release that
  // happens after the retry sees the waiter and notifies under the same lock.
  waiting_.fetch_add(1, std::memory_order_seq_cst);
  std::optional<std::uint32_t> index;
  {
    std::unique_lock lock(wait_mutex_);
    while (!(index = pop()) && !shut_down_.load(std::memory_order_acquire)) chunk_released_.wait(lock);
  }
  waiting_.fetch_sub(1, std::memory_order_relaxed);
  const auto waited = std::chrono::steady_clock::now() - started;
  wait_nanoseconds_.fetch_add(
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(waited).count()),
      std::memory_order_relaxed);
  return index;
}

void chunk_pool::release(std::uint32_t index) noexcept {
  in_use_.fetch_sub(1, std::memory_order_relaxed);
  // Cannot fail: the stack has room for every chunk and holds each at most once.
  free_.bounded_push(index);
  if (waiting_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard lock(wait_mutex_); }
    chunk_released_.notify_one();
  }
}

void chunk_pool::shutdown() noexcept {
  {
    std::lock_guard lock(wait_mutex_);
    shut_down_.store(true, std::memory_order_release);
  }
  chunk_released_.notify_all();
}

void chunk_pool::advise_free(std::span<const std::uint32_t> sorted) noexcept {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  for (std::size_t k = 0; k < sorted.size();) {
    std::size_t run = 1;
    while (k + run < sorted.size() && sorted[k + run] == sorted[k] + run) ++run;
    const auto begin = reinterpret_cast<std::uintptr_t>(chunk(sorted[k]).data());
    const auto first = (begin + page - 1) / page * page;
    const auto end = (begin + run * chunk_bytes_) / page * page;
    // Advice only: should the kernel refuse it, the pages stay resident.
    if (end > first) ::madvise(reinterpret_cast<void*>(first), end - first, MADV_DONTNEED);
    k += run;
  }
}

// Given back a batch at a time, the highest first: waiters get chunks back
// after the first batch, and the lowest chunks end on top of the stack (the
// chunks used first are used again first).
std::size_t chunk_pool::return_free_memory() noexcept {
  constexpr std::size_t kBatch = 1024;
  std::lock_guard one_at_a_time(return_mutex_);
  {
    std::lock_guard lock(wait_mutex_);
    returning_.store(true, std::memory_order_seq_cst);
  }
  returned_.clear();
  std::uint32_t index = 0;
  while (free_.pop(index)) returned_.push_back(index);
  std::sort(returned_.begin(), returned_.end());
  for (std::size_t end = returned_.size(); end > 0;) {
    const std::size_t begin = end > kBatch ? end - kBatch : 0;
    advise_free(std::span(returned_).subspan(begin, end - begin));
    for (std::size_t k = end; k > begin; --k) free_.bounded_push(returned_[k - 1]);
    { std::lock_guard lock(wait_mutex_); }  // a waiter is either waiting or sees the chunks
    chunk_released_.notify_all();
    end = begin;
  }
  {
    std::lock_guard lock(wait_mutex_);
    returning_.store(false, std::memory_order_seq_cst);
  }
  chunk_released_.notify_all();
  return returned_.size();
}

pool_stats chunk_pool::stats() const noexcept {
  pool_stats s;
  s.chunk_bytes = chunk_bytes_;
  s.chunks_total = chunk_count_;
  const std::uint64_t used = in_use_.load(std::memory_order_relaxed);
  s.chunks_free = used > chunk_count_ ? 0 : chunk_count_ - used;
  s.chunks_high_water = high_water_.load(std::memory_order_relaxed);
  s.acquires = acquires_.load(std::memory_order_relaxed);
  s.waits = waits_.load(std::memory_order_relaxed);
  s.wait_nanoseconds = wait_nanoseconds_.load(std::memory_order_relaxed);
  s.waiting_now = waiting_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace sevenzfs::pool
