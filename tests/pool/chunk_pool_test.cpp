#include "pool/chunk_pool.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <random>
#include <set>
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
