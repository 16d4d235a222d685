#pragma once
// Closed files wait here a moment before they are sealed for compression: a
// file reopened and changed soon after it was closed (an editor's save, a log
// rotated, rsync's rename dance) is then not compressed twice. Each file
// closed after writing is queued with a stamp (its count of opens for
// writing); when its moment has passed (or a little later, at most delay/16
// and 50 ms, so that one wake-up takes the files due meanwhile), `due` is
// called on the queue's thread, which seals it unless it was opened for
// writing again (the stamp tells). A file may wait 2^k delays instead of one
// (add's `doublings`: see sealer::closed). Once no file is due within a delay
// (the queue is empty, or holds only files that wait longer) for `quiet` after
// the last file came or was taken, `idle` is called (the daemon then has the
// compressor finish what it holds rather than wait for more input). While
// `hold` answers true (writes are going on: see sealer::writes_going_on),
// files that are due wait, at most `max_hold` past their moment (a service
// rewriting one file at speed for hours, which never fills the pool, would
// otherwise hold every other file back until a commit). It is asked again
// every kHoldTick, on the queue's thread with its lock held (so it must not
// call add). While no file is due within `rest_after` and no idle call is due,
// `rest` is called every `rest_after` (the daemon then looks whether it is at
// rest and gives idle memory back): a file added puts it off until
// `rest_after` after the next idle call.
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

  // Due after delay x 2^doublings (doublings capped at kMaxDoublings).
  void add(inode_number number, std::uint64_t stamp, unsigned doublings = 0);
  static constexpr unsigned kMaxDoublings = 10;
  std::size_t size() const;

 private:
  struct waiting {
    inode_number number;
    std::uint64_t stamp;
    std::chrono::steady_clock::time_point due;
  };
  void run(const std::stop_token& stop);
  // Whether no file is due within a delay from `now`: none, or only files
  // that wait longer (idle and rest are not put off by them).
  bool only_later_files(std::chrono::steady_clock::time_point now) const;
  // In its place by `due`; true when it is now the first. Under mutex_.
  bool insert(const waiting& file);

  std::chrono::milliseconds delay_;
  std::chrono::milliseconds batch_;  // how late a file may be taken, to take several at once
  due_callback due_;
  std::chrono::milliseconds quiet_;
  std::function<void()> idle_;
  std::function<bool()> hold_;
  std::chrono::milliseconds max_hold_;
  std::function<void()> rest_;
  std::chrono::milliseconds rest_after_;
  bool idle_due_ = false;    // files came or were taken since the last idle call
  std::uint64_t added_ = 0;  // files added so far: a wait ends when one comes
  mutable std::mutex mutex_;
  std::condition_variable_any changed_;
  // In order of `due`: a file added with no doublings goes before those
  // that wait longer (behind the others), one that waits longer in its place.
  std::deque<waiting> queue_;
  std::jthread thread_;        // last: started once the rest exists
};

}  // namespace sevenzfs::fs
