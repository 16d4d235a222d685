// The worker pool: every job runs before the pool is gone, each on a worker
// whose index is below the pool's size.
#include "archive/worker_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using namespace sevenzfs::archive;

TEST(worker_pool, RunsEveryJobBeforeItIsDestroyed) {
  std::atomic<int> ran{0};
  std::mutex mutex;
  std::set<std::size_t> workers;
  {
    worker_pool pool(3);
    for (int i = 0; i < 200; ++i) {
      pool.submit([&](std::size_t worker) {
        ++ran;
        std::lock_guard lock(mutex);
        workers.insert(worker);
      });
    }
  }
  EXPECT_EQ(ran.load(), 200);
  ASSERT_FALSE(workers.empty());
  for (auto worker : workers) EXPECT_LT(worker, 3u);
}

TEST(worker_pool, AJobForOneWorkerRunsOnlyOnIt) {
  std::mutex mutex;
  std::vector<std::size_t> ran_on;
  std::atomic<bool> go{false};
  {
    worker_pool pool(2);
    // Worker 1 is held while the others are queued: worker 0, idle, must
    // leave them to it.
    pool.submit_to(1, [&](std::size_t worker) {
      while (!go) std::this_thread::yield();
      std::lock_guard lock(mutex);
      ran_on.push_back(worker);
    });
    for (int i = 0; i < 50; ++i) {
      pool.submit_to(1, [&](std::size_t worker) {
        std::lock_guard lock(mutex);
        ran_on.push_back(worker);
      });
    }
    go = true;
  }
  ASSERT_EQ(ran_on.size(), 51u);
  for (auto worker : ran_on) EXPECT_EQ(worker, 1u);
}

TEST(worker_pool, AJobQueuedByARunningJobWhileThePoolIsDestroyedStillRuns) {
  // Worker 1, idle, must not be gone when the job it gets is queued: neither
  // while worker 0 runs its job nor before worker 0 has taken it (the
  // destructor may begin before either thread has looked at its queue).
  constexpr int kRounds = 40;
  std::atomic<int> ran{0};
  for (int round = 0; round < kRounds; ++round) {
    worker_pool pool(2);
    pool.submit_to(0, [&](std::size_t) {
      // By now the destructor has begun, most often.
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      pool.submit_to(1, [&](std::size_t worker) {
        if (worker == 1) ++ran;
      });
    });
  }
  EXPECT_EQ(ran.load(), kRounds);
}
