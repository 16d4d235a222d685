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

void settle_queue::add(inode_number number, std::uint64_t stamp, unsigned doublings) {
  bool first = false;
  {
    std::lock_guard lock(mutex_);
    const auto due = std::chrono::steady_clock::now() + delay_ * (1u << std::min(doublings, kMaxDoublings));
    first = insert({number, stamp, due});
    idle_due_ = true;
    ++added_;
  }
  // Behind other files the new one is due later: the thread, asleep until
  // the first is due, need not wake for it (a wake-up per closed file is
  // two system calls and a context switch).
  if (first) changed_.notify_one();
}

bool settle_queue::insert(const waiting& file) {
  const auto at = std::upper_bound(queue_.begin(), queue_.end(), file.due,
                                   [](auto due, const waiting& other) { return due < other.due; });
  const bool first = at == queue_.begin();
  queue_.insert(at, file);
  return first;
}

std::size_t settle_queue::size() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

bool settle_queue::only_later_files(std::chrono::steady_clock::time_point now) const {
  return queue_.empty() || queue_.front().due > now + delay_;
}

void settle_queue::run(const std::stop_token& stop) {
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    const auto now = std::chrono::steady_clock::now();
    const std::uint64_t added = added_;
    const auto one_added = [&] { return added_ != added; };
    if (only_later_files(now) && idle_due_) {
      // Not past a file waiting longer: it is taken when due, and the quiet
      // spell counted again after it.
      const bool quiet_first = queue_.empty() || now + quiet_ <= queue_.front().due;
      const auto until = quiet_first ? now + quiet_ : queue_.front().due;
      if (!changed_.wait_until(lock, stop, until, one_added) && quiet_first && !stop.stop_requested()) {
        idle_due_ = false;
        lock.unlock();
        if (idle_) idle_();
        lock.lock();
      }
      continue;
    }
    const bool rest_due = rest_ && rest_after_ > std::chrono::milliseconds::zero();
    if (rest_due && !idle_due_ && (queue_.empty() || queue_.front().due > now + rest_after_)) {
      if (!changed_.wait_for(lock, stop, rest_after_, one_added) && !stop.stop_requested()) {
        lock.unlock();
        rest_();
        lock.lock();
      }
      continue;
    }
    if (queue_.empty()) {
      changed_.wait(lock, stop, one_added);
      continue;
    }
    const auto due = queue_.front().due;
    if (now < due) {
      // A little later, so that one wake-up takes the files closed meanwhile;
      // sooner if a file added is due before it.
      changed_.wait_until(lock, stop, due + batch_, [&] { return queue_.front().due < due; });
      continue;
    }
    if (hold_ && now < due + max_hold_ && hold_()) {
      changed_.wait_for(lock, stop, kHoldTick, [] { return false; });
      continue;
    }
    const waiting next = queue_.front();
    queue_.pop_front();
    lock.unlock();
    const bool done = due_(next.number, next.stamp);
    lock.lock();
    if (!done) insert({next.number, next.stamp, std::chrono::steady_clock::now() + delay_});
    // A file that waited longer may come after the idle call: the
    // compressor is to finish it too.
    idle_due_ = true;
  }
}

}  // namespace sevenzfs::fs
