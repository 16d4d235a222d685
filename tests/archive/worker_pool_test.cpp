// The worker pool: every job runs before the pool is gone, each on a worker
// whose index is below the pool's size.
#include "archive/worker_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>

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
