// The worker pool: every job runs, each on a worker of its own index, and
// workers started with a nice value run at that lower priority.
#include "archive/worker_pool.hpp"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

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
  for (auto worker : workers) EXPECT_LT(worker, 3u);
}

TEST(worker_pool, WorkersRunAtTheNiceValueTheyWereGiven) {
  errno = 0;
  const int own = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
  ASSERT_EQ(errno, 0);
  std::atomic<int> seen_plain{-100};
  std::atomic<int> seen_nice{-100};
  {
    worker_pool plain(1);
    worker_pool nice(1, 10);
    plain.submit([&](std::size_t) { seen_plain = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())); });
    nice.submit([&](std::size_t) { seen_nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())); });
  }
  EXPECT_EQ(seen_plain.load(), own);
  EXPECT_EQ(seen_nice.load(), std::min(own + 10, 19));
  // The caller's own priority is untouched.
  EXPECT_EQ(::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())), own);
}
