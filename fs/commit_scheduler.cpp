#include "commit_scheduler.hpp"

#include <utility>

namespace sevenzfs::fs {

namespace {
constexpr std::size_t kResultsKept = 256;
}

commit_scheduler::commit_scheduler(commit_function commit, std::function<bool()> has_changes,
                                   std::chrono::seconds interval)
    : commit_(std::move(commit)),
      has_changes_(std::move(has_changes)),
      interval_(interval),
      thread_([this](std::stop_token stop) { run(stop); }) {}

commit_scheduler::~commit_scheduler() { stop(); }

result<void> commit_scheduler::commit_and_wait(const commit_scope& scope) {
  std::unique_lock lock(mutex_);
  if (stopped_) return failure(EIO);
  const std::uint64_t round = started_ + 1;
  requested_ = std::max(requested_, round);
  next_scope_.merge(scope);
  wake_.notify_all();
  done_.wait(lock, [&] { return completed_ >= round || stopped_; });
  if (completed_ < round) return failure(EIO);  // stopped: the final commit takes it
  const auto it = results_.find(round);
  return it == results_.end() ? result<void>{} : it->second;
}

void commit_scheduler::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  wake_.notify_all();
  thread_.join();
  std::lock_guard lock(mutex_);
  stopped_ = true;
  done_.notify_all();
}

void commit_scheduler::run(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  for (;;) {
    auto asked = [&] { return requested_ > completed_; };
    if (interval_.count() > 0) {
      wake_.wait_for(lock, stop, interval_, asked);
    } else {
      wake_.wait(lock, stop, asked);
    }
    if (!asked()) {
      if (stop.stop_requested()) return;
      // The interval passed with nothing asked: commit only if there is news.
      lock.unlock();
      const bool changed = has_changes_();
      lock.lock();
      if (!changed) continue;
      requested_ = std::max(requested_, started_ + 1);
      next_scope_.merge(commit_scope::closed_files());
    }
    const std::uint64_t round = ++started_;
    const commit_scope scope = std::exchange(next_scope_, {});
    lock.unlock();
    auto outcome = commit_(scope);
    lock.lock();
    completed_ = round;
    results_.insert_or_assign(round, std::move(outcome));
    while (results_.size() > kResultsKept) results_.erase(results_.begin());
    done_.notify_all();
  }
}

}  // namespace sevenzfs::fs
