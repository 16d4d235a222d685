#include "pool/chunk_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <set>
#include <thread>
#include <vector>

using namespace sevenzfs::pool;
using namespace std::chrono_literals;

TEST(ChunkPool, BudgetIsCarvedIntoWholeChunks) {
  chunk_pool pool(10 * 4096 + 100, 4096);
  EXPECT_EQ(pool.chunk_count(), 10u);
  EXPECT_EQ(pool.stats().chunks_free, 10u);
  EXPECT_THROW(chunk_pool(100, 4096), std::invalid_argument);
}

TEST(ChunkPool, EveryChunkIsDistinctAndWritable) {
  chunk_pool pool(8 * 4096, 4096);
  std::vector<chunk_handle> held;
  std::set<std::byte*> addresses;
  while (auto chunk = pool.try_acquire()) {
    std::memset(chunk->bytes().data(), static_cast<int>(chunk->index()), chunk->bytes().size());
    addresses.insert(chunk->bytes().data());
    held.push_back(std::move(*chunk));
  }
  EXPECT_EQ(held.size(), 8u);
  EXPECT_EQ(addresses.size(), 8u);
  for (const auto& chunk : held) EXPECT_EQ(chunk.bytes()[4095], static_cast<std::byte>(chunk.index()));
  EXPECT_FALSE(pool.try_acquire());
  EXPECT_EQ(pool.stats().chunks_free, 0u);
  EXPECT_EQ(pool.stats().chunks_high_water, 8u);
  held.pop_back();  // the handle gives its chunk back
  EXPECT_EQ(pool.stats().chunks_free, 1u);
  EXPECT_TRUE(pool.try_acquire());
}

TEST(ChunkPool, AcquireWaitsForARelease) {
  chunk_pool pool(2 * 4096, 4096);
  auto a = pool.acquire();
  auto b = pool.acquire();
  ASSERT_TRUE(a && b);
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto c = pool.acquire();
    got = c.has_value();
  });
  while (pool.waiting() == 0) std::this_thread::sleep_for(1ms);
  EXPECT_FALSE(got.load());
  EXPECT_EQ(pool.stats().waiting_now, 1u);
  a->reset();
  waiter.join();
  EXPECT_TRUE(got.load());
  EXPECT_EQ(pool.stats().waits, 1u);
  EXPECT_GT(pool.stats().wait_nanoseconds, 0u);
  EXPECT_EQ(pool.stats().waiting_now, 0u);
}

TEST(ChunkPool, ShutdownWakesEveryWaiter) {
  chunk_pool pool(4096, 4096);
  auto only = pool.acquire();
  std::atomic<int> failed{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.emplace_back([&] {
      if (!pool.acquire()) ++failed;
    });
  }
  while (pool.waiting() < 4) std::this_thread::sleep_for(1ms);
  pool.shutdown();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(failed.load(), 4);
  EXPECT_FALSE(pool.acquire()) << "acquire after shutdown must not wait";
}

TEST(ChunkPool, ManyThreadsNeverShareAChunk) {
  // Several workers acquiring and releasing at once, as compression workers
  // use the pool; each marks its chunk and checks nobody else holds it.
  chunk_pool pool(16 * 1024, 1024);
  std::vector<std::atomic<int>> owner(pool.chunk_count());
  std::atomic<int> conflicts{0};
  std::vector<std::thread> workers;
  for (int w = 1; w <= 4; ++w) {
    workers.emplace_back([&, w] {
      std::mt19937 rng(static_cast<unsigned>(w));
      std::vector<chunk_handle> mine;  // at most 3 each: 4 x 3 < 16, so waits always end
      for (int i = 0; i < 20000; ++i) {
        if (mine.size() < 3 && rng() % 2) {
          auto chunk = rng() % 4 ? pool.try_acquire() : pool.acquire();
          if (!chunk) continue;
          int expected = 0;
          if (!owner[chunk->index()].compare_exchange_strong(expected, w)) ++conflicts;
          chunk->bytes()[0] = static_cast<std::byte>(w);
          mine.push_back(std::move(*chunk));
        } else if (!mine.empty()) {
          auto& chunk = mine.back();
          if (chunk.bytes()[0] != static_cast<std::byte>(w)) ++conflicts;
          owner[chunk.index()] = 0;
          mine.pop_back();
        }
      }
      for (auto& chunk : mine) owner[chunk.index()] = 0;
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(conflicts.load(), 0);
  EXPECT_EQ(pool.stats().chunks_free, pool.chunk_count());
}
