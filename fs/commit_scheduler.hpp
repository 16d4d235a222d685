#pragma once
// Runs commits on one thread, in numbered rounds. A caller that needs its
// data committed (fsync, the flush xattr, memory pressure) asks for a round
// that starts after its call and waits for that round's result; callers that
// arrive together share a round, which takes what any of them asked for
// (commit_scope::merge). With an interval, a round of closed files also
// starts when nothing was asked for `interval` and the filesystem has
// changes.
#include "commit_scope.hpp"
#include "result.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace sevenzfs::fs {

class commit_scheduler {
 public:
  using commit_function = std::function<result<void>(commit_scope scope)>;

  commit_scheduler(commit_function commit, std::function<bool()> has_changes, std::chrono::seconds interval);
  ~commit_scheduler();
  commit_scheduler(const commit_scheduler&) = delete;
  commit_scheduler& operator=(const commit_scheduler&) = delete;

  // Blocks until a round that started after this call has finished; returns
  // its result.
  result<void> commit_and_wait(const commit_scope& scope);

  // Finishes the round in progress (and any that was asked for), then stops.
  void stop();

 private:
  void run(std::stop_token stop);

  commit_function commit_;
  std::function<bool()> has_changes_;
  std::chrono::seconds interval_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::condition_variable_any done_;
  std::uint64_t requested_ = 0;  // highest round asked for
  commit_scope next_scope_;      // what the round after the running one is asked to take
  std::uint64_t started_ = 0;
  std::uint64_t completed_ = 0;
  bool stopped_ = false;
  std::map<std::uint64_t, result<void>> results_;  // recent rounds' results
  std::jthread thread_;                            // last: started after everything it uses
};

}  // namespace sevenzfs::fs
