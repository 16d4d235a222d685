#include "fs/commit_scheduler.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <vector>

using namespace sevenzfs::fs;
using namespace std::chrono_literals;

namespace {

// A commit that takes a while, counts its rounds and remembers their scopes.
struct fake_commits {
  std::atomic<int> rounds{0};
  std::atomic<int> everything_rounds{0};
  std::atomic<bool> fail{false};
  std::atomic<bool> changed{false};

  commit_scheduler::commit_function function() {
    return [this](commit_scope scope) -> result<void> {
      std::this_thread::sleep_for(30ms);
      ++rounds;
      if (scope == commit_scope::everything) ++everything_rounds;
      changed = false;
      if (fail) return failure(ENOSPC);
      return {};
    };
  }
};

}  // namespace

TEST(CommitScheduler, CallersArrivingTogetherShareRounds) {
  fake_commits commits;
  commit_scheduler scheduler(
      commits.function(), [] { return false; }, 0s);
  std::vector<std::future<result<void>>> callers;
  for (int i = 0; i < 16; ++i) {
    callers.push_back(
        std::async(std::launch::async, [&] { return scheduler.commit_and_wait(commit_scope::everything); }));
  }
  for (auto& caller : callers) {
    ASSERT_EQ(caller.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(caller.get());
  }
  EXPECT_GE(commits.rounds.load(), 1);
  EXPECT_LE(commits.rounds.load(), 3) << "16 callers at once need at most the running round and one more";
  EXPECT_EQ(commits.rounds.load(), commits.everything_rounds.load());
}

TEST(CommitScheduler, EveryWaiterOfAFailedRoundGetsItsError) {
  fake_commits commits;
  commits.fail = true;
  commit_scheduler scheduler(
      commits.function(), [] { return false; }, 0s);
  auto first = std::async(std::launch::async, [&] { return scheduler.commit_and_wait(commit_scope::closed_files); });
  auto second = std::async(std::launch::async, [&] { return scheduler.commit_and_wait(commit_scope::closed_files); });
  ASSERT_EQ(first.wait_for(10s), std::future_status::ready);
  ASSERT_EQ(second.wait_for(10s), std::future_status::ready);
  const auto a = first.get();
  const auto b = second.get();
  ASSERT_FALSE(a);
  ASSERT_FALSE(b);
  EXPECT_EQ(a.error().code, ENOSPC);
  EXPECT_EQ(b.error().code, ENOSPC);
  EXPECT_EQ(commits.everything_rounds.load(), 0) << "nobody asked for open files";
}

TEST(CommitScheduler, TheIntervalCommitsOnlyWhenSomethingChanged) {
  fake_commits commits;
  commit_scheduler scheduler(
      commits.function(), [&] { return commits.changed.load(); }, 1s);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(commits.rounds.load(), 0) << "nothing changed";
  commits.changed = true;
  EXPECT_TRUE(sevenzfs::test::eventually([&] { return commits.rounds.load() == 1; }, 5s));
  scheduler.stop();
  EXPECT_FALSE(scheduler.commit_and_wait(commit_scope::everything)) << "a stopped scheduler commits nothing";
}
