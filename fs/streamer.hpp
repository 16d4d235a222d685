#pragma once
// The daemon's side of streaming compression: closed files, once sealed
// (see sealed_bytes.hpp), are handed to archive::pending_folders, which
// compresses them on worker threads into pending files beside the archive;
// as each file's packed bytes are written its staged memory is released, so
// the pool drains while files are still being copied in. A commit then takes
// the finished folders and copies their packed bytes into the archive.
//
// Also keeps where released files can be read: in the pending folders until
// a commit takes them, then in the taken folders until the commit is
// applied. Taken folders whose commit failed are given to the next commit.
//
// A failure (a full disk, the file size limit) stops streaming: commits
// compress what is staged themselves. Once a commit succeeded and no file
// holds bytes handed to the failed compressor, resume() makes a new one.
//
// Thread-safe; lock order: mutex_, then instance_mutex_, then the pending
// folders'. hand_over may block (backpressure) and must be called without
// the change gate or any inode lock.
#include "archived_bytes.hpp"
#include "log.hpp"
#include "sealed_bytes.hpp"
#include "taken_folders.hpp"

#include "archive/archive_writer.hpp"
#include "archive/pending_folders.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace sevenzfs::fs {

struct stream_figures {
  std::uint64_t pending_bytes = 0;  // handed over and not yet committed (or dropped)
  std::uint64_t written_bytes = 0;  // of them, compressed and written to pending files
};

enum class release_wait { released, timed_out, nothing_handed };

class streamer {
 public:
  // Streams nothing until start(): its worker threads must not be started
  // before the daemon forks into the background. `workers_allowed` (may be
  // empty) says how many workers may compress at once now (see
  // archive::pending_options::workers_allowed).
  streamer(std::string archive_path, const archive::write_options& write, logger& log);
  ~streamer();
  void start(std::function<unsigned()> workers_allowed = {});
  // Stops streaming and removes the pending files (what they held must be
  // elsewhere by then); later hand-overs are refused. Nothing else may call
  // into the streamer meanwhile (the daemon's threads have ended).
  void stop();
  streamer(const streamer&) = delete;
  streamer& operator=(const streamer&) = delete;

  // Announces a hand_over to come (called where the file is sealed, under
  // its lock): a commit's preparation waits for it (wait_for_hand_overs), so
  // no file sealed before the commit looked is left out of it.
  void expect_hand_over() noexcept;
  // Gives sealed bytes to the compressor under `path` (which picks the
  // folder); returns false (logged) if the compressor failed: the bytes
  // stay readable and a commit compresses them itself. Ends one expected
  // hand-over.
  bool hand_over(const std::string& path, const std::shared_ptr<sealed_bytes>& bytes);
  void wait_for_hand_overs();
  // Until some hand-over ends or `timeout` passes, for a caller waiting for
  // one file's: while files are sealed one after another, the count of those
  // expected may not reach 0 for long. False at once when none is expected.
  bool wait_for_a_hand_over(std::chrono::milliseconds timeout);
  // Starts the compression of everything handed over (nothing more is coming soon).
  void flush();
  // Memory is short: an idle worker, if any, gets the fullest partly filled part.
  void relieve();
  // Waits until a file's memory is released or `timeout` passes;
  // nothing_handed at once when nothing is being compressed (waiting would
  // not free anything).
  release_wait wait_for_release(std::chrono::milliseconds timeout);
  // Ends the open folders and waits until everything handed over so far is
  // written (a failure stops streaming: see streaming()).
  void finish();
  // The same for the folders holding these files only (an fsync's).
  void finish_folders_of(std::span<const archive::pending_id> ids);
  // Nothing more is to be handed over (the last commit, or an unmount's;
  // should more come after all, encoders are made anew): the idle workers'
  // encoders give their memory back before the header's encoders take theirs.
  void release_encoders();
  // Nothing was handed over for a while: the idle workers' encoders give
  // their memory back. Returns how many did.
  std::size_t rest();
  // Files handed over (or being handed over) are still being compressed
  // (never once compression failed).
  bool compressing();
  // The finished folders a commit copies (with those of a failed commit).
  // Not a copy (that would double the memory of a commit of many one-file
  // folders): valid until the next take(), committed() or stop(). The
  // committer calls the first two under its gate; stop() follows a failed
  // final commit.
  const taken_folders& take();
  // The commit of everything take() returned is applied: those files are
  // read from the archive now.
  void committed();

  std::optional<archived_bytes> locate(archive::pending_id id);
  stream_figures figures() const;
  // Started and not failed: closed files are sealed for it. Otherwise
  // commits compress what is staged (or sealed) themselves.
  bool streaming() const noexcept { return started_.load() && !broken_.load(); }
  // Compression failed since start(): resume() may start it again.
  bool resumable() const noexcept { return started_.load() && broken_.load(); }
  // Replaces the failed compressor with a new one (its pending files are
  // removed) and streams again. Only when no file holds sealed bytes (none
  // was handed to the failed one, see filesystem::resume_streaming) and no
  // other commit runs;
  // takes as long as the failed compressor's workers need to stop.
  void resume();

 private:
  void encoded(archive::pending_id id);
  void note_release(const std::shared_ptr<sealed_bytes>& bytes);
  void guarded(const std::function<void(archive::pending_folders&)>& action);
  void failed(const std::exception& error, std::uint64_t generation);
  void report(const archive::pending_folders& pending) const;
  std::unique_ptr<archive::pending_folders> make_pending(archive::pending_id first_id);

  logger& log_;
  mutable std::mutex mutex_;
  std::condition_variable released_;
  std::unordered_map<archive::pending_id, std::weak_ptr<sealed_bytes>> handed_;
  std::unordered_set<archive::pending_id> encoded_early_;  // before hand_over registered them
  std::uint64_t releases_ = 0;
  std::uint64_t expected_hand_overs_ = 0;
  std::uint64_t ended_hand_overs_ = 0;
  std::condition_variable handed_over_;
  taken_folders taken_;  // by a commit not yet applied
  std::uint64_t committed_bytes_ = 0;  // handed over and since committed or dropped
  std::string archive_path_;
  archive::pending_options options_;
  std::atomic<bool> started_{false};
  std::atomic<bool> broken_{false};
  std::function<unsigned()> workers_allowed_;
  // Guards the pointer pending_ (not what it points to), which resume()
  // replaces: held shared by every use of it, exclusively to replace it.
  // Held exclusively also to clear broken_ and to count a replacement in
  // generation_ (atomic: also read under mutex_ alone); a failure sets
  // broken_ holding it shared, only if its generation is the current one.
  mutable std::shared_mutex instance_mutex_;
  std::atomic<std::uint64_t> generation_{0};
  archive::pending_id next_id_ = 1;  // the first id of the next compressor made
  // Last: destroyed first, joining its workers before what their callbacks use.
  std::unique_ptr<archive::pending_folders> pending_;
};

}  // namespace sevenzfs::fs
