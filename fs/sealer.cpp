#include "sealer.hpp"

#include <malloc.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace sevenzfs::fs {

namespace {

// A commit's records (its databases, header and per-file records) are small
// blocks among the tree's, so glibc keeps their pages when they are freed:
// only the main arena's top goes back by itself, and a thread arena's top
// stays up to M_TRIM_THRESHOLD (8 MiB: see main.cpp). malloc_trim gives
// back the free pages inside the arenas. The sanitizers bring allocators of
// their own, which it does not know (it would walk glibc's unused arena).
bool trim_heap() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return false;
#else
  return ::malloc_trim(0) != 0;
#endif
}

}  // namespace

sealer::sealer(inode_table& inodes, committer& commits, streamer& streamed, content_services& content,
               pool::chunk_pool& chunks, timing when, logger& log)
    : inodes_(inodes),
      committer_(commits),
      streamer_(streamed),
      content_(content),
      chunks_(chunks),
      when_(when),
      log_(log) {}

sealer::timing sealer::timing::of(const daemon_options& options) {
  const unsigned threads = std::max(options.write.compression.threads, 1u);
  return {options.settle, std::min(options.writing_threads.value_or(threads - 1), threads), options.idle_release};
}

// After two quiet seconds, what waits in partly filled parts is compressed
// too (the folders stay open for more).
void sealer::start() {
  std::function<bool()> hold;
  {
    std::lock_guard window(window_mutex_);
    window_start_ = std::chrono::steady_clock::now();
    window_acquires_ = chunks_.stats().acquires;
  }
  rest_look_ = std::chrono::steady_clock::now();
  rest_acquires_ = chunks_.stats().acquires;
  if (when_.writing_threads == 0) hold = [this] { return writes_going_on(); };
  queue_ = std::make_unique<settle_queue>(
      when_.settle, [this](inode_number number, std::uint64_t stamp) { return seal_if_settled(number, stamp); },
      std::chrono::seconds(2),
      [this] {
        rest_look_ = std::chrono::steady_clock::now();
        rest_acquires_ = chunks_.stats().acquires;
        streamer_.flush();
      },
      std::move(hold), settle_queue::kMaxHold, [this] { rest(); }, when_.rest);
}

// Asked every `rest` seconds while no closed file is due within that time.
// Writes to files open since before the last close (a long `dd`) put the rest
// off: their next chunks would fault their pages in again. A trickle (a
// service's log kept open, kRestTrickleBytesPerSecond at most) does not: the
// pages it faults in again are few next to what its commits freed. The rate is
// the average since the last look, so a burst that began just before it gets
// one rest all the same (its pages fault in again once). The price of a rest:
// the next part of a solid folder still open pays for a primer (its worker's
// stream is gone), and the next writes fault their pages in. Encoders are
// given back at every such look (a file written before the last rest may have
// been compressed since); free pages only when chunks were taken or released
// since they last were (a chunk in use then may be free now), as that walk
// takes every free chunk off the pool.
void sealer::rest() {
  const auto now = std::chrono::steady_clock::now();
  const auto pool = chunks_.stats();
  const double seconds = std::chrono::duration<double>(now - std::exchange(rest_look_, now)).count();
  const auto taken =
      static_cast<double>((pool.acquires - std::exchange(rest_acquires_, pool.acquires)) * pool.chunk_bytes);
  if (taken > kRestTrickleBytesPerSecond * seconds) return;  // writes go on
  if (streamer_.compressing()) return;
  const std::size_t encoders = streamer_.rest();
  // Acquisitions and releases so far: it grows with either.
  const std::uint64_t changes = 2 * pool.acquires - (pool.chunks_total - pool.chunks_free);
  const std::size_t chunks = std::exchange(returned_changes_, changes) != changes ? chunks_.return_free_memory() : 0;
  // Once after each commit, and not during one: the trim holds each arena's
  // lock while it walks the free blocks (with 100,000 files, 50-100 ms after
  // a commit), and only a commit frees many blocks among the tree's.
  const auto& commits = committer_.figures();
  const std::uint64_t ended = commits.commits.load() + commits.failed_commits.load();
  const bool trimmed = !commits.running.load() && std::exchange(trimmed_after_, ended) != ended && trim_heap();
  log_.debug("at rest: {} idle encoders, {} MiB of free staging memory{} given back", encoders,
             (chunks * chunks_.chunk_bytes()) >> 20, trimmed ? " and free heap pages" : "");
}

void sealer::stop() { queue_.reset(); }

void sealer::closed(inode_number number, std::uint64_t stamp, unsigned seals) {
  if (queue_) queue_->add(number, stamp, seals);
}

// Bytes, not files: what the compressor would take from the writers grows
// with the bytes. Many tiny files (100,000 of 100 B, 0.5 MB/s) are cheap to
// compress beside the copy, and holding them made the whole job 1.46x as
// long: handing 100,000 files over after the copy costs more than beside it.
// The rate is measured over a window of at least a tick: the queue asks
// again at once for each file after a "no", which would otherwise measure
// microseconds.
bool sealer::writes_going_on() {
  std::lock_guard window(window_mutex_);
  const auto now = std::chrono::steady_clock::now();
  const auto pool = chunks_.stats();
  if (now - window_start_ >= settle_queue::kHoldTick) {
    const double seconds = std::chrono::duration<double>(now - window_start_).count();
    const auto bytes = static_cast<double>((pool.acquires - window_acquires_) * pool.chunk_bytes);
    busy_ = bytes >= (busy_ ? kStillBusyBytesPerSecond : kBusyBytesPerSecond) * seconds;
    window_start_ = now;
    window_acquires_ = pool.acquires;
  }
  return busy_ && pool.chunks_free * 2 > pool.chunks_total;
}

unsigned sealer::workers_allowed() {
  return when_.writing_threads > 0 && writes_going_on() ? when_.writing_threads : UINT32_MAX;
}

// On the settle queue's thread: the file was closed a moment ago.
bool sealer::seal_if_settled(inode_number number, std::uint64_t stamp) {
  std::shared_ptr<sealed_bytes> bytes;
  std::string path;
  {
    auto gate = committer_.change_gate();
    if (!streamer_.streaming()) return true;
    auto node = inodes_.lock(number);
    if (!node) return true;
    inode& n = **node;
    if (n.writers > 0 || n.write_opens != stamp || n.parent == 0) return true;  // reopened, or deleted
    // A running commit compresses it: asked again later, it is committed by
    // then, or (the commit failed) staged again and goes to the streamer.
    if (n.content.frozen()) return false;
    if (n.content.grew_from_archived()) return true;  // left to a commit: it continues the archived folder
    bytes = n.content.seal(content_);
    if (!bytes) return true;
    path = inodes_.path_of(n);
    streamer_.expect_hand_over();
  }
  streamer_.hand_over(path, bytes);
  return true;
}

void sealer::seal_closed_files() {
  std::vector<std::pair<std::string, std::shared_ptr<sealed_bytes>>> sealed;
  {
    auto gate = committer_.change_gate();
    // Under the gate, as in seal_if_settled: streaming may resume only
    // after a commit that found no file sealed (filesystem::resume_streaming).
    if (!streamer_.streaming()) return;
    inodes_.walk([&](const std::string& path, inode& node) {
      if (node.kind != node_kind::file) return;
      std::lock_guard data(node.mutex);
      if (node.writers > 0 || node.content.grew_from_archived()) return;
      if (auto bytes = node.content.seal(content_)) {
        streamer_.expect_hand_over();
        sealed.emplace_back(path, std::move(bytes));
      }
    });
  }
  for (const auto& [path, bytes] : sealed) streamer_.hand_over(path, bytes);
}

// A partly filled part is cut only for an idle worker: cutting one at every
// full pool would make many small parts, each costing its encoder a
// dictionary of primer.
bool sealer::make_room() {
  seal_closed_files();
  streamer_.relieve();
  return streamer_.wait_for_release(std::chrono::seconds(1)) != release_wait::nothing_handed;
}

// The streamer's pending files hold what it compressed; the recovery archive
// needs the room they take (a full disk is the usual reason a final commit
// fails).
void sealer::bring_back() {
  stop();
  bool all_back = true;
  inodes_.for_each([&](inode& node) {
    std::lock_guard data(node.mutex);
    // Reading back what the compressor released can throw (archive_error
    // from the pending file): one file's failure must not end the others'.
    try {
      if (auto back = node.content.unseal(content_); !back) {
        log_.error("{}: {}", inodes_.path_of(node), back.error().message);
        all_back = false;
      }
    } catch (const std::exception& e) {
      log_.error("{}: {}", inodes_.path_of(node), e.what());
      all_back = false;
    }
  });
  if (all_back) {
    streamer_.stop();
    content_.reader.forget_removed_files();  // their descriptors would keep the room
  }
}

}  // namespace sevenzfs::fs
