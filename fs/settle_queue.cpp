#include "settle_queue.hpp"

#include <algorithm>

namespace sevenzfs::fs {

settle_queue::settle_queue(std::chrono::milliseconds delay, due_callback due, std::chrono::milliseconds quiet,
                           std::function<void()> idle, std::function<bool()> hold, std::chrono::milliseconds max_hold,
                           std::function<void()> rest, std::chrono::milliseconds rest_after)
    : delay_(delay),
      batch_(std::min<std::chrono::milliseconds>(delay / 16, std::chrono::milliseconds(50))),
      due_(std::move(due)),
      quiet_(quiet),
      idle_(std::move(idle)),
      hold_(std::move(hold)),
      max_hold_(max_hold),
      rest_(std::move(rest)),
      rest_after_(rest_after),
      thread_([this](const std::stop_token& stop) { run(stop); }) {}

settle_queue::~settle_queue() {
  thread_.request_stop();
  thread_.join();
}

void settle_queue::add(inode_number number, std::uint64_t stamp) {
  bool first = false;
  {
    std::lock_guard lock(mutex_);
    first = queue_.empty();
    queue_.push_back({number, stamp, std::chrono::steady_clock::now() + delay_});
    idle_due_ = true;
  }
  // Behind other files the new one is due last: the thread, asleep until
  // the first is due, need not wake for it (a wake-up per closed file is
  // two system calls and a context switch).
  if (first) changed_.notify_one();
}

std::size_t settle_queue::size() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void settle_queue::run(const std::stop_token& stop) {
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    if (queue_.empty() && idle_due_) {
      if (!changed_.wait_for(lock, stop, quiet_, [&] { return !queue_.empty(); }) && !stop.stop_requested()) {
        idle_due_ = false;
        lock.unlock();
        if (idle_) idle_();
        lock.lock();
      }
      continue;
    }
    if (queue_.empty() && rest_ && rest_after_ > std::chrono::milliseconds::zero()) {
      if (!changed_.wait_for(lock, stop, rest_after_, [&] { return !queue_.empty(); }) && !stop.stop_requested()) {
        lock.unlock();
        rest_();
        lock.lock();
      }
      continue;
    }
    if (queue_.empty()) {
      changed_.wait(lock, stop, [&] { return !queue_.empty(); });
      continue;
    }
    const auto due = queue_.front().due;
    if (std::chrono::steady_clock::now() < due) {
      // A little later, so that one wake-up takes the files closed meanwhile.
      changed_.wait_until(lock, stop, due + batch_, [] { return false; });
      continue;
    }
    if (hold_ && std::chrono::steady_clock::now() < due + max_hold_ && hold_()) {
      changed_.wait_for(lock, stop, kHoldTick, [] { return false; });
      continue;
    }
    const waiting next = queue_.front();
    queue_.pop_front();
    lock.unlock();
    const bool done = due_(next.number, next.stamp);
    lock.lock();
    if (!done) queue_.push_back({next.number, next.stamp, std::chrono::steady_clock::now() + delay_});
  }
}

}  // namespace sevenzfs::fs
