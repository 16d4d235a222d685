#pragma once
// Closed files wait here a moment before they are sealed for compression:
// a file reopened and changed soon after it was closed (an editor's save, a
// log rotated, rsync's rename dance) is then not compressed twice. Each file
// closed after writing is queued with a stamp (its count of opens for
// writing); when its moment has passed (or a little later, at most delay/16
// and 50 ms, so that one wake-up takes the files due meanwhile), `due` is
// called on the queue's thread, which seals it unless it was opened for
// writing again (the stamp tells). Once the queue has been empty for `quiet`
// after the last file, `idle` is called (the daemon then has the compressor finish what it holds
// rather than wait for more input). While `hold` answers true (writes are
// going on: see sealer::writes_going_on), files that are due wait, at most
// `max_hold` past their moment (a service rewriting one file at speed for
// hours, which never fills the pool, would otherwise hold every other file
// back until a commit). It is asked again every kHoldTick, on the queue's
// thread with its lock held (so it must not call add). While nothing is
// queued and no idle call is due, `rest` is called every `rest_after` (the
// daemon then looks whether it is at rest and gives idle memory back): a
// file added puts it off until `rest_after` after the next idle call.
#include "inode.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>

namespace sevenzfs::fs {

class settle_queue {
 public:
  // False: not now; the file is due again after another delay.
  using due_callback = std::function<bool(inode_number number, std::uint64_t stamp)>;

  static constexpr std::chrono::milliseconds kHoldTick{100};
  static constexpr std::chrono::milliseconds kMaxHold{30'000};

  settle_queue(std::chrono::milliseconds delay, due_callback due, std::chrono::milliseconds quiet,
               std::function<void()> idle, std::function<bool()> hold = {},
               std::chrono::milliseconds max_hold = kMaxHold, std::function<void()> rest = {},
               std::chrono::milliseconds rest_after = {});
  // Stops the thread; what is still queued is left (a commit seals it).
  ~settle_queue();
  settle_queue(const settle_queue&) = delete;
  settle_queue& operator=(const settle_queue&) = delete;

  void add(inode_number number, std::uint64_t stamp);
  std::size_t size() const;

 private:
  struct waiting {
    inode_number number;
    std::uint64_t stamp;
    std::chrono::steady_clock::time_point due;
  };
  void run(const std::stop_token& stop);

  std::chrono::milliseconds delay_;
  std::chrono::milliseconds batch_;  // how late a file may be taken, to take several at once
  due_callback due_;
  std::chrono::milliseconds quiet_;
  std::function<void()> idle_;
  std::function<bool()> hold_;
  std::chrono::milliseconds max_hold_;
  std::function<void()> rest_;
  std::chrono::milliseconds rest_after_;
  bool idle_due_ = false;  // files came since the last idle call
  mutable std::mutex mutex_;
  std::condition_variable_any changed_;
  std::deque<waiting> queue_;  // in order of `due`: the delay is the same for all
  std::jthread thread_;        // last: started once the rest exists
};

}  // namespace sevenzfs::fs
