#pragma once
// Hands closed files to the streamer (streamer.hpp): each file closed after
// writing once its settle moment has passed (settle_queue.hpp), every closed
// file at once when a commit begins or the pool is full, and — before a
// recovery save — takes them all back. A file that grew by appends only
// since it was archived is left to the next commit, which continues its
// archived folder instead of compressing it whole. Sealing a file takes the change gate
// shared and the file's lock, briefly; the hand-over itself (which may wait
// for the compressor) takes neither.
#include "committer.hpp"
#include "file_content.hpp"
#include "inode_table.hpp"
#include "log.hpp"
#include "settle_queue.hpp"
#include "streamer.hpp"

#include <chrono>
#include <cstdint>
#include <memory>

namespace sevenzfs::fs {

class sealer {
 public:
  sealer(inode_table& inodes, committer& commits, streamer& streamed, content_services& content,
         std::chrono::milliseconds settle, logger& log);
  sealer(const sealer&) = delete;
  sealer& operator=(const sealer&) = delete;

  // Starts the settle queue's thread (after the daemon has forked); stop()
  // joins it.
  void start();
  void stop();

  // `number` was closed by its last writer, its `write_opens`-th open for writing.
  void closed(inode_number number, std::uint64_t stamp);
  // Every closed, changed file goes to the compressor now, except those grown
  // by appends (the commit continues their archived folders).
  void seal_closed_files();
  // The pool is full: true when compression is freeing memory (the writer
  // tries again), false when waiting would not help.
  bool make_room();
  // Before a recovery save: sealed files come back into the pool (or spill
  // files) and the streamer stops, removing its pending files.
  void bring_back();

 private:
  // False: a commit has the file's bytes; the queue asks again later.
  bool seal_if_settled(inode_number number, std::uint64_t stamp);

  inode_table& inodes_;
  committer& committer_;
  streamer& streamer_;
  content_services& content_;
  std::chrono::milliseconds settle_;
  logger& log_;
  std::unique_ptr<settle_queue> queue_;  // its thread seals through the members above
};

}  // namespace sevenzfs::fs
