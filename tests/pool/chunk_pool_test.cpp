#include "pool/chunk_pool.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <random>
#include <set>
#include <span>
#include <thread>
#include <vector>

using namespace sevenzfs::pool;
using sevenzfs::test::eventually;
using namespace std::chrono_literals;

namespace {

// Waits for `task` with a deadline; on timeout the pool is shut down, which
// wakes every waiter, so the test fails instead of hanging.
template <typename T>
bool finishes_in_time(std::future<T>& task, chunk_pool& pool) {
  if (task.wait_for(10s) == std::future_status::ready) return true;
  pool.shutdown();
  task.wait();
  return false;
}

}  // namespace

TEST(ChunkPool, BudgetIsCarvedIntoWholeChunks) {
  chunk_pool pool(10 * 4096 + 100, 4096);
  EXPECT_EQ(pool.chunk_count(), 10u);
  EXPECT_EQ(pool.stats().chunks_free, 10u);
  EXPECT_THROW(chunk_pool(100, 4096), std::invalid_argument);
}

TEST(ChunkPool, EveryChunkIsDistinctAndWritable) {
  chunk_pool pool(8 * 4096, 4096);
  std::vector<std::uint32_t> held;
  std::set<std::byte*> addresses;
  while (auto index = pool.try_acquire()) {
    const auto bytes = pool.chunk(*index);
    std::memset(bytes.data(), static_cast<int>(*index), bytes.size());
    addresses.insert(bytes.data());
    held.push_back(*index);
  }
  EXPECT_EQ(held.size(), 8u);
  EXPECT_EQ(addresses.size(), 8u);
  for (const auto index : held) EXPECT_EQ(pool.chunk(index)[4095], static_cast<std::byte>(index));
  EXPECT_FALSE(pool.try_acquire());
  EXPECT_EQ(pool.stats().chunks_free, 0u);
  EXPECT_EQ(pool.stats().chunks_high_water, 8u);
  pool.release(held.back());
  EXPECT_EQ(pool.stats().chunks_free, 1u);
  EXPECT_EQ(pool.try_acquire(), held.back());
}

TEST(ChunkPool, AcquireWaitsForARelease) {
  chunk_pool pool(2 * 4096, 4096);
  const auto a = pool.acquire();
  const auto b = pool.acquire();
  ASSERT_TRUE(a && b);
  auto waiter = std::async(std::launch::async, [&] { return pool.acquire(); });
  ASSERT_TRUE(eventually([&] { return pool.waiting() == 1; })) << "acquire on an empty pool must wait";
  EXPECT_EQ(waiter.wait_for(20ms), std::future_status::timeout) << "nothing was released yet";
  EXPECT_EQ(pool.stats().waiting_now, 1u);
  pool.release(*a);
  ASSERT_TRUE(finishes_in_time(waiter, pool)) << "a release must wake the waiter";
  EXPECT_EQ(waiter.get(), a);
  EXPECT_EQ(pool.stats().waits, 1u);
  EXPECT_GT(pool.stats().wait_nanoseconds, 0u);
  EXPECT_EQ(pool.stats().waiting_now, 0u);
}

TEST(ChunkPool, ShutdownWakesEveryWaiter) {
  chunk_pool pool(4096, 4096);
  ASSERT_TRUE(pool.acquire());
  std::vector<std::future<std::optional<std::uint32_t>>> waiters;
  for (int i = 0; i < 4; ++i) waiters.push_back(std::async(std::launch::async, [&] { return pool.acquire(); }));
  ASSERT_TRUE(eventually([&] { return pool.waiting() == 4; }));
  pool.shutdown();
  for (auto& waiter : waiters) {
    ASSERT_EQ(waiter.wait_for(10s), std::future_status::ready) << "shutdown must wake every waiter";
    EXPECT_FALSE(waiter.get());
  }
  EXPECT_FALSE(pool.acquire()) << "acquire after shutdown must not wait";
}

TEST(ChunkPool, ManyThreadsNeverShareAChunk) {
  // Several threads acquiring and releasing at once; each marks its chunk
  // and checks nobody else holds it.
  chunk_pool pool(16 * 1024, 1024);
  std::vector<std::atomic<int>> owner(pool.chunk_count());
  std::atomic<int> conflicts{0};
  std::vector<std::future<void>> workers;
  for (int w = 1; w <= 4; ++w) {
    workers.push_back(std::async(std::launch::async, [&, w] {
      std::mt19937 rng(static_cast<unsigned>(w));
      std::vector<std::uint32_t> mine;  // at most 3 each: 4 x 3 < 16, so waits always end
      for (int i = 0; i < 20000; ++i) {
        if (mine.size() < 3 && rng() % 2) {
          const auto index = rng() % 4 ? pool.try_acquire() : pool.acquire();
          if (!index) continue;
          int expected = 0;
          if (!owner[*index].compare_exchange_strong(expected, w)) ++conflicts;
          pool.chunk(*index)[0] = static_cast<std::byte>(w);
          mine.push_back(*index);
        } else if (!mine.empty()) {
          const auto index = mine.back();
          if (pool.chunk(index)[0] != static_cast<std::byte>(w)) ++conflicts;
          owner[index] = 0;
          mine.pop_back();
          pool.release(index);
        }
      }
      for (const auto index : mine) {
        owner[index] = 0;
        pool.release(index);
      }
    }));
  }
  for (auto& worker : workers) ASSERT_TRUE(finishes_in_time(worker, pool));
  EXPECT_EQ(conflicts.load(), 0);
  EXPECT_EQ(pool.stats().chunks_free, pool.chunk_count());
}

namespace {

// Whether every page of `bytes` is resident (mincore), or none is.
enum class residence { all, none, mixed };
residence residence_of(std::span<std::byte> bytes) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(bytes.data()) / page * page;
  const auto end = reinterpret_cast<std::uintptr_t>(bytes.data() + bytes.size());
  std::vector<unsigned char> pages((end - begin + page - 1) / page);
  EXPECT_EQ(::mincore(reinterpret_cast<void*>(begin), end - begin, pages.data()), 0);
  std::size_t resident = 0;
  for (auto p : pages) resident += p & 1;
  return resident == pages.size() ? residence::all : resident == 0 ? residence::none : residence::mixed;
}

// Takes every chunk of `pool`, each filled with `fill` (so its pages are resident).
std::vector<std::uint32_t> take_all_filled(chunk_pool& pool, int fill) {
  std::vector<std::uint32_t> held;
  while (auto index = pool.try_acquire()) {
    std::memset(pool.chunk(*index).data(), fill, pool.chunk_bytes());
    held.push_back(*index);
  }
  return held;
}

}  // namespace

// Free chunks give their pages back; chunks in use keep theirs, and their
// bytes. A chunk given back reads as zeros when it is next handed out.
TEST(ChunkPool, FreeChunksGiveTheirPagesBack) {
  chunk_pool pool(16 * 65536, 65536);
  const auto held = take_all_filled(pool, 0x5A);
  ASSERT_EQ(held.size(), 16u);
  for (std::size_t k = 0; k < held.size(); k += 2) pool.release(held[k]);
  for (const auto index : held) ASSERT_EQ(residence_of(pool.chunk(index)), residence::all);

  EXPECT_EQ(pool.return_free_memory(), 8u);
  for (std::size_t k = 0; k < held.size(); ++k) {
    const auto bytes = pool.chunk(held[k]);
    if (k % 2 == 0) {
      EXPECT_EQ(residence_of(bytes), residence::none) << "free chunk " << held[k];
    } else {
      EXPECT_EQ(residence_of(bytes), residence::all) << "chunk in use " << held[k];
      EXPECT_EQ(bytes[0], std::byte{0x5A});
      EXPECT_EQ(bytes[bytes.size() - 1], std::byte{0x5A});
    }
  }
  EXPECT_EQ(pool.stats().chunks_free, 8u);
  const auto again = pool.try_acquire();
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, held[0]) << "the lowest free chunk first";
  EXPECT_EQ(pool.chunk(*again)[0], std::byte{0}) << "a page given back comes back zeroed";
}

// Chunks smaller than a page: only pages wholly inside free chunks go, so
// the bytes of a neighbour in use stay.
TEST(ChunkPool, PagesSharedWithAChunkInUseStay) {
  chunk_pool pool(64 * 1024, 1024);
  const auto held = take_all_filled(pool, 0x33);
  for (const auto index : held) {
    if (index != 5) pool.release(index);
  }
  EXPECT_EQ(pool.return_free_memory(), 63u);
  const auto kept = pool.chunk(5);
  for (const auto b : kept) ASSERT_EQ(b, std::byte{0x33});
}

// While the free chunks are being given back, the stack is empty for a
// moment: try_acquire waits for them rather than report a full pool.
TEST(ChunkPool, AcquirersWaitWhileFreeChunksAreGivenBack) {
  chunk_pool pool(64 * 65536, 65536);
  std::atomic<bool> stop{false};
  std::atomic<int> refused{0};
  std::atomic<int> acquired{0};
  std::vector<std::future<void>> workers;
  for (int w = 0; w < 3; ++w) {
    workers.push_back(std::async(std::launch::async, [&] {
      while (!stop) {
        const auto index = pool.try_acquire();  // at most 3 of 64 in use: never full
        if (!index) {
          ++refused;
          continue;
        }
        pool.chunk(*index)[0] = std::byte{1};
        pool.release(*index);
        ++acquired;
      }
    }));
  }
  ASSERT_TRUE(eventually([&] { return acquired.load() > 1000; }));
  std::size_t returned = 0;
  const auto until = std::chrono::steady_clock::now() + 300ms;
  for (int round = 0; round < 300 || std::chrono::steady_clock::now() < until; ++round) {
    returned += pool.return_free_memory();
  }
  stop = true;
  for (auto& worker : workers) ASSERT_TRUE(finishes_in_time(worker, pool));
  EXPECT_EQ(refused.load(), 0);
  EXPECT_GT(returned, 0u);
  EXPECT_EQ(pool.stats().chunks_free, pool.chunk_count());
}
