#pragma once
// Hands closed files to the streamer (streamer.hpp): each file closed after
// writing once its settle moment has passed (settle_queue.hpp), every closed
// file at once when a commit begins or the pool is full, and — before a
// recovery save — takes them all back. A file that grew by appends only
// since it was archived is left to the next commit, which continues its
// archived folder instead of compressing it whole. Sealing a file takes the change gate
// shared and the file's lock, briefly; the hand-over itself (which may wait
// for the compressor) takes neither.
//
// While writes go on (10 MiB/s or more) and the staging pool is less than
// half full, the compressor runs on writing_threads of its threads (one
// fewer by default: workers_allowed), leaving the writers a core; with
// writing_threads 0, settled files wait instead (at most
// settle_queue::kMaxHold). Compressing on every core beside a burst of
// writes slows the writes more than it gains: on two cores, `cp -r` of
// 50,000 files of 10 KB into the mount took 2.7x as long with both
// threads compressing beside it (batched; 2.9x solid), and the whole job
// finished no sooner (0.92x batched, 1.03x solid). With one thread beside
// it, 10,000 such files: the copy took 1.2-1.3x as long as with none, the
// whole job 0.89x batched and about 0.86x solid (noisy). Past half the pool
// all threads compress, so that the writers do not run into a full pool.
//
// At rest (looked at every `rest` while no closed file is due: at most a
// trickle of staging memory, kRestTrickleBytesPerSecond, taken since the
// last look or the idle flush, and nothing being compressed), the
// compressor's idle encoders, the pool's free pages and the heap's free
// pages go back to the kernel: an idle mount kept 516 MiB after 100 MB had
// been copied in and compressed (two level-5 encoders and the pool's
// touched pages), 51 MiB after. The heap's are what a commit freed (its
// databases, header and per-file records), given back at the first rest
// after each commit: 100,000 files committed by a flush, 146 MiB resident
// after it, 95 MiB at rest, 151 without the trim. An arena's top, up to
// 8 MiB each, stays. A log kept open and committed by fsync rests too, once
// its writes slow to a trickle (at most 1 MiB/s); a log opened and closed
// for each line more often than every `rest` does not.
#include "committer.hpp"
#include "daemon_options.hpp"
#include "file_content.hpp"
#include "inode_table.hpp"
#include "log.hpp"
#include "settle_queue.hpp"
#include "streamer.hpp"

#include "pool/chunk_pool.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>

namespace sevenzfs::fs {

class sealer {
 public:
  struct timing {
    std::chrono::milliseconds settle{250};  // daemon_options::settle
    // Compression threads while writes go on (daemon_options::writing_threads,
    // resolved); 0: settled files wait.
    unsigned writing_threads = 1;
    std::chrono::milliseconds rest{30'000};  // daemon_options::idle_release (0: never)
    static timing of(const daemon_options& options);
  };
  sealer(inode_table& inodes, committer& commits, streamer& streamed, content_services& content,
         pool::chunk_pool& chunks, timing when, logger& log);
  sealer(const sealer&) = delete;
  sealer& operator=(const sealer&) = delete;

  // Starts the settle queue's thread (after the daemon has forked); stop()
  // joins it.
  void start();
  void stop();

  // `number` was closed by its last writer, its `write_opens`-th open for
  // writing, after its content was sealed `seals` times since a commit last
  // took it. It waits settle x 2^seals (at most 1024 x settle): a file
  // written again after each seal (a log appended to by `>>` every few
  // seconds) would otherwise be compressed whole again after every write,
  // as the streamer compresses whole files (a 30 MB file took 3 s of CPU per
  // line appended every 1.5 s). Each close starts the file's wait again, so
  // a file appended to every few seconds is compressed a few times, then
  // not again while the appends come faster than its wait, until they pause
  // that long or a commit takes it.
  void closed(inode_number number, std::uint64_t stamp, unsigned seals);
  // Every closed, changed file goes to the compressor now, except those grown
  // by appends (the commit continues their archived folders).
  void seal_closed_files();
  // The pool is full: true when compression is freeing memory (the writer
  // tries again), false when waiting would not help.
  bool make_room();
  // How many workers may compress now: writing_threads while writes go on
  // (and the pool is under half full), else all. Any thread.
  unsigned workers_allowed();
  // Before a recovery save: sealed files come back into the pool (or spill
  // files) and the streamer stops, removing its pending files.
  void bring_back();

 private:
  // False: a commit has the file's bytes; the queue asks again later.
  bool seal_if_settled(inode_number number, std::uint64_t stamp);
  // Pool chunks were taken at kBusyBytesPerSecond or more over the last
  // window of at least settle_queue::kHoldTick (once so, at
  // kStillBusyBytesPerSecond), and the pool is less than half full. Any
  // thread. Without the lower rate to stay busy, a copy slowed below the
  // first by a noisy machine let the second worker in, whose part (seconds
  // of a core, and a primer's pass when it split a chain) slowed the copy
  // further: 10,000 blob-cache files copied in 8-13 s in about one run of
  // four, 4-5 s otherwise; with it, 3.6-5.4 s in 22 runs.
  bool writes_going_on();
  static constexpr double kBusyBytesPerSecond = 10 << 20;
  static constexpr double kStillBusyBytesPerSecond = 2 << 20;
  // On the settle queue's thread, every `rest` while no closed file is due.
  void rest();
  // Writes slower than this (in staging chunks taken) do not put a rest off.
  static constexpr double kRestTrickleBytesPerSecond = 1 << 20;

  inode_table& inodes_;
  committer& committer_;
  streamer& streamer_;
  content_services& content_;
  pool::chunk_pool& chunks_;
  timing when_;
  logger& log_;
  // writes_going_on's window, guarded by window_mutex_: when it began, the
  // pool's chunk acquisitions then, and what the last full window found.
  std::mutex window_mutex_;
  std::chrono::steady_clock::time_point window_start_;
  std::uint64_t window_acquires_ = 0;
  bool busy_ = false;
  // The last idle call or look at rest: when, and the pool's acquisitions then.
  std::chrono::steady_clock::time_point rest_look_;
  std::uint64_t rest_acquires_ = 0;
  std::uint64_t returned_changes_ = 0;  // its acquisitions and releases when free pages were last given back
  std::uint64_t trimmed_after_ = 0;     // commits ended (or failed) when the heap was last trimmed
  std::unique_ptr<settle_queue> queue_;  // its thread seals through the members above
};

}  // namespace sevenzfs::fs
