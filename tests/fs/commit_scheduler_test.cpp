#include "fs/commit_scheduler.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <algorithm>
#include <future>
#include <mutex>
#include <numeric>
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
  std::mutex mutex;
  std::vector<commit_scope> scopes;

  commit_scheduler::commit_function function() {
    return [this](const commit_scope& scope) -> result<void> {
      std::this_thread::sleep_for(30ms);
      ++rounds;
      if (scope.reach == commit_scope::breadth::everything) ++everything_rounds;
      {
        std::lock_guard lock(mutex);
        scopes.push_back(scope);
      }
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
        std::async(std::launch::async, [&] { return scheduler.commit_and_wait(commit_scope::everything()); }));
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
  auto first = std::async(std::launch::async, [&] { return scheduler.commit_and_wait(commit_scope::closed_files()); });
  auto second = std::async(std::launch::async, [&] { return scheduler.commit_and_wait(commit_scope::closed_files()); });
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
  EXPECT_FALSE(scheduler.commit_and_wait(commit_scope::everything())) << "a stopped scheduler commits nothing";
}

TEST(CommitScope, MergingTakesTheWiderReachAndEveryListedFile) {
  auto scope = commit_scope::of({7, 3, 7});
  EXPECT_EQ(scope.listed, (std::vector<inode_number>{3, 7}));
  EXPECT_TRUE(scope.lists(3));
  EXPECT_FALSE(scope.lists(5));
  EXPECT_FALSE(scope.takes_closed_files());
  scope.merge(commit_scope::of({5, 3}));
  EXPECT_EQ(scope.listed, (std::vector<inode_number>{3, 5, 7}));
  EXPECT_EQ(scope.reach, commit_scope::breadth::listed);
  scope.merge(commit_scope::closed_files());
  EXPECT_EQ(scope.reach, commit_scope::breadth::closed_files);
  EXPECT_TRUE(scope.takes_closed_files());
  EXPECT_TRUE(scope.lists(5)) << "files listed by one caller stay listed in a wider round";
  scope.merge(commit_scope::of({1}));
  EXPECT_EQ(scope.reach, commit_scope::breadth::closed_files) << "a narrower caller does not narrow the round";
  scope.merge(commit_scope::everything());
  EXPECT_EQ(scope.reach, commit_scope::breadth::everything);
}

// fsyncs of different files at once share rounds, and each round takes every
// file its callers listed, and nothing wider than they asked for.
TEST(CommitScheduler, ASharedRoundTakesEveryCallersFile) {
  fake_commits commits;
  commit_scheduler scheduler(
      commits.function(), [] { return false; }, 0s);
  std::vector<std::future<result<void>>> callers;
  for (inode_number file = 10; file < 26; ++file) {
    callers.push_back(
        std::async(std::launch::async, [&, file] { return scheduler.commit_and_wait(commit_scope::of({file})); }));
  }
  for (auto& caller : callers) {
    ASSERT_EQ(caller.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(caller.get());
  }
  std::lock_guard lock(commits.mutex);
  EXPECT_LE(commits.scopes.size(), 3u) << "16 callers at once need at most the running round and one more";
  std::vector<inode_number> committed;
  for (const auto& scope : commits.scopes) {
    EXPECT_EQ(scope.reach, commit_scope::breadth::listed);
    committed.insert(committed.end(), scope.listed.begin(), scope.listed.end());
  }
  std::ranges::sort(committed);
  std::vector<inode_number> asked(16);
  std::iota(asked.begin(), asked.end(), inode_number{10});
  EXPECT_EQ(committed, asked) << "every file in exactly one round";
}
