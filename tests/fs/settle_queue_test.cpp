// The settle queue: files come due after the delay, in order, with their
// stamps; they wait while the hold says so, up to a limit; the idle call
// comes once after a quiet spell, not again until more files came; the
// rest call comes every interval while nothing is queued; what is still
// queued at destruction is not called. A file may wait 2^k delays; others
// pass it, and it puts off neither the idle call nor the rest.
#include "fs/settle_queue.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace fs = sevenzfs::fs;

namespace {

struct recorder {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::pair<fs::inode_number, std::uint64_t>> due;
  std::vector<std::chrono::steady_clock::time_point> called;  // when each of `due` came
  int idle = 0;

  bool wait_for(std::size_t calls, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return due.size() >= calls; });
  }
  int not_now = 0;  // how many calls still answer "not now"
  fs::settle_queue::due_callback on_due() {
    return [this](fs::inode_number number, std::uint64_t stamp) {
      std::lock_guard lock(mutex);
      due.emplace_back(number, stamp);
      called.push_back(std::chrono::steady_clock::now());
      changed.notify_all();
      return not_now-- <= 0;
    };
  }
  std::function<void()> on_idle() {
    return [this] {
      std::lock_guard lock(mutex);
      ++idle;
    };
  }
  int rests = 0;
  std::chrono::steady_clock::time_point rested;
  std::function<void()> on_rest() {
    return [this] {
      std::lock_guard lock(mutex);
      ++rests;
      rested = std::chrono::steady_clock::now();
    };
  }
  int counted(const int& calls) {
    std::lock_guard lock(mutex);
    return calls;
  }
};

}  // namespace

TEST(SettleQueue, FilesComeDueAfterTheDelayInOrder) {
  recorder seen;
  const auto started = std::chrono::steady_clock::now();
  fs::settle_queue queue(100ms, seen.on_due(), 1h, seen.on_idle());
  queue.add(7, 1);
  queue.add(3, 5);
  ASSERT_TRUE(seen.wait_for(2, 10s));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 100ms);
  std::lock_guard lock(seen.mutex);
  EXPECT_EQ(seen.due, (std::vector<std::pair<fs::inode_number, std::uint64_t>>{{7, 1}, {3, 5}}));
  EXPECT_EQ(queue.size(), 0u);
}

// One wake-up takes the files closed shortly after the first: the second
// comes with it, late by less than the batch (50 ms at this delay), never
// early.
TEST(SettleQueue, FilesClosedShortlyAfterAnotherComeDueWithIt) {
  recorder seen;
  fs::settle_queue queue(800ms, seen.on_due(), 1h, seen.on_idle());
  const auto first_added = std::chrono::steady_clock::now();
  queue.add(1, 1);
  std::this_thread::sleep_for(25ms);
  const auto second_added = std::chrono::steady_clock::now();
  queue.add(2, 1);
  if (second_added - first_added >= 45ms) GTEST_SKIP() << "overslept: the second file is not within the batch";
  ASSERT_TRUE(seen.wait_for(2, 10s));
  std::lock_guard lock(seen.mutex);
  EXPECT_GE(seen.called[0] - first_added, 800ms);
  EXPECT_GE(seen.called[1] - second_added, 800ms);
  EXPECT_LT(seen.called[1] - seen.called[0], 12ms) << "the second file took a wake-up of its own";
}

// A file whose call answers "not now" (a commit has its bytes) is due again
// after another delay, and then only.
TEST(SettleQueue, AFileNotTakenIsDueAgainAfterAnotherDelay) {
  recorder seen;
  seen.not_now = 1;
  fs::settle_queue queue(100ms, seen.on_due(), 1h, seen.on_idle());
  queue.add(4, 2);
  ASSERT_TRUE(seen.wait_for(2, 10s));
  std::this_thread::sleep_for(300ms);
  std::lock_guard lock(seen.mutex);
  EXPECT_EQ(seen.due, (std::vector<std::pair<fs::inode_number, std::uint64_t>>{{4, 2}, {4, 2}}));
  EXPECT_GE(seen.called[1] - seen.called[0], 100ms);
  EXPECT_EQ(queue.size(), 0u);
}

// A file added with doublings waits delay x 2^doublings; a file added after
// it with none comes due first, and wakes the queue's thread for that.
TEST(SettleQueue, AFileWithDoublingsWaitsLongerAndOthersPassIt) {
  recorder seen;
  const auto started = std::chrono::steady_clock::now();
  fs::settle_queue queue(200ms, seen.on_due(), 1h, seen.on_idle());
  queue.add(1, 1, 3);
  std::this_thread::sleep_for(20ms);
  queue.add(2, 1);
  ASSERT_TRUE(seen.wait_for(2, 10s));
  std::lock_guard lock(seen.mutex);
  EXPECT_EQ(seen.due, (std::vector<std::pair<fs::inode_number, std::uint64_t>>{{2, 1}, {1, 1}}));
  EXPECT_GE(seen.called[0] - started, 220ms);
  EXPECT_LT(seen.called[0] - started, 1200ms) << "the second file waited for the first";
  EXPECT_GE(seen.called[1] - started, 1600ms);
}

// Files waiting longer than a delay do not put off the idle call (the
// compressor finishing what it holds) or the rest.
TEST(SettleQueue, FilesWaitingLongerPutOffNeitherIdleNorRest) {
  recorder seen;
  fs::settle_queue queue(100ms, seen.on_due(), 50ms, seen.on_idle(), {}, fs::settle_queue::kMaxHold, seen.on_rest(),
                         200ms);
  queue.add(2, 1);                                   // first: no idle call may come between the two
  queue.add(1, 1, fs::settle_queue::kMaxDoublings);  // 102 s
  ASSERT_TRUE(seen.wait_for(1, 10s));
  EXPECT_TRUE(sevenzfs::test::eventually([&] { return seen.counted(seen.idle) == 1; }, 5s));
  EXPECT_TRUE(sevenzfs::test::eventually([&] { return seen.counted(seen.rests) >= 1; }, 5s));
  EXPECT_EQ(queue.size(), 1u);
  std::lock_guard lock(seen.mutex);
  EXPECT_EQ(seen.due, (std::vector<std::pair<fs::inode_number, std::uint64_t>>{{2, 1}}));
}

// The idle call came while a file waited longer; once that file is taken,
// another follows (the compressor is to finish it too).
TEST(SettleQueue, IdleComesAgainAfterAFileThatWaitedLonger) {
  recorder seen;
  fs::settle_queue queue(100ms, seen.on_due(), 50ms, seen.on_idle());
  queue.add(1, 1, 3);
  EXPECT_TRUE(sevenzfs::test::eventually([&] { return seen.counted(seen.idle) == 1; }, 5s));
  ASSERT_TRUE(seen.wait_for(1, 10s));
  EXPECT_TRUE(sevenzfs::test::eventually([&] { return seen.counted(seen.idle) == 2; }, 5s));
}

TEST(SettleQueue, IdleComesOnceAfterAQuietSpell) {
  recorder seen;
  fs::settle_queue queue(0ms, seen.on_due(), 50ms, seen.on_idle());
  queue.add(1, 1);
  ASSERT_TRUE(seen.wait_for(1, 10s));
  std::this_thread::sleep_for(400ms);
  {
    std::lock_guard lock(seen.mutex);
    EXPECT_EQ(seen.idle, 1);
  }
  queue.add(2, 1);
  ASSERT_TRUE(seen.wait_for(2, 10s));
  std::this_thread::sleep_for(400ms);
  std::lock_guard lock(seen.mutex);
  EXPECT_EQ(seen.idle, 2);
}

// While nothing is queued, rest comes every `rest_after`; a file added puts
// it off until `rest_after` after the idle call that follows.
TEST(SettleQueue, RestComesEveryIntervalWhileNothingIsQueued) {
  recorder seen;
  fs::settle_queue queue(0ms, seen.on_due(), 50ms, seen.on_idle(), {}, fs::settle_queue::kMaxHold, seen.on_rest(),
                         400ms);
  std::this_thread::sleep_for(1000ms);
  const int before = seen.counted(seen.rests);
  EXPECT_GE(before, 1);
  EXPECT_LE(before, 2);
  const auto added = std::chrono::steady_clock::now();
  queue.add(1, 1);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(seen.counted(seen.rests), before) << "put off by the file";
  std::this_thread::sleep_for(1000ms);
  EXPECT_EQ(seen.counted(seen.idle), 1);
  EXPECT_GE(seen.counted(seen.rests), before + 1);
  std::lock_guard lock(seen.mutex);
  EXPECT_GE(seen.rested - added, 50ms + 400ms) << "the first rest after the file comes after the idle call";
}

// While `hold` answers true (writes go on), a due file waits; the queue asks
// again every tick, and takes the file once it answers false.
TEST(SettleQueue, DueFilesWaitWhileHoldSaysSo) {
  recorder seen;
  std::atomic<bool> holding{true};
  std::atomic<int> asked{0};
  fs::settle_queue queue(0ms, seen.on_due(), 1h, seen.on_idle(), [&] {
    ++asked;
    return holding.load();
  });
  queue.add(5, 1);
  EXPECT_FALSE(seen.wait_for(1, 350ms)) << "taken while held";
  EXPECT_GE(asked.load(), 2) << "not asked again after a tick";
  const auto released = std::chrono::steady_clock::now();
  holding = false;
  ASSERT_TRUE(seen.wait_for(1, 10s));
  std::lock_guard lock(seen.mutex);
  EXPECT_EQ(seen.due, (std::vector<std::pair<fs::inode_number, std::uint64_t>>{{5, 1}}));
  EXPECT_LE(seen.called[0] - released, fs::settle_queue::kHoldTick + 2s);
}

// Held no longer than max_hold past its moment: writes that never pause do
// not keep a file from the compressor until a commit.
TEST(SettleQueue, AFileIsHeldAtMostMaxHold) {
  recorder seen;
  const auto started = std::chrono::steady_clock::now();
  fs::settle_queue queue(
      50ms, seen.on_due(), 1h, seen.on_idle(), [] { return true; }, 400ms);
  queue.add(6, 3);
  ASSERT_TRUE(seen.wait_for(1, 10s)) << "held for ever";
  std::lock_guard lock(seen.mutex);
  EXPECT_GE(seen.called[0] - started, 450ms);
  EXPECT_EQ(seen.due, (std::vector<std::pair<fs::inode_number, std::uint64_t>>{{6, 3}}));
}

TEST(SettleQueue, WhatIsStillQueuedAtDestructionIsNotCalled) {
  recorder seen;
  const auto started = std::chrono::steady_clock::now();
  {
    fs::settle_queue queue(1h, seen.on_due(), 1h, seen.on_idle());
    queue.add(1, 1);
    EXPECT_EQ(queue.size(), 1u);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << "destruction waited for the delay";
  std::lock_guard lock(seen.mutex);
  EXPECT_TRUE(seen.due.empty());
  EXPECT_EQ(seen.idle, 0);
}
