#pragma once
// Signals whose default action would end the daemon without its final
// commit, turned into calls on a thread of their own. libfuse handles
// SIGTERM, SIGINT and SIGHUP (the session loop ends, the daemon commits and
// unmounts); anything else that terminates by default, like a stray
// `kill -USR1` meant for a log daemon, would lose every staged file.
//
// The signals are blocked in every thread and read from a signalfd, so the
// handler runs as ordinary code (it may lock, log and commit), not in a
// signal handler.
#include "archive/file_io.hpp"

#include <signal.h>

#include <functional>
#include <initializer_list>
#include <thread>

namespace sevenzfs::fs {

class signal_watcher {
 public:
  // Blocks `signals` in the calling thread, but for those ignored already
  // (nohup's SIGHUP), which stay ignored; returns those blocked. Threads
  // started afterwards inherit the mask. Call it before any other thread
  // starts, or a thread that does not block them gets them with their
  // default action.
  static sigset_t block(std::initializer_list<int> signals);

  // Reads the blocked `signals` and calls `on_signal` with each one, one at
  // a time: a signal that arrives again while its call runs is handled once
  // more afterwards, not once per arrival. Throws std::system_error when the
  // descriptors cannot be made.
  signal_watcher(const sigset_t& signals, std::function<void(int signal)> on_signal);
  // Waits for a call in progress, then stops.
  ~signal_watcher();
  signal_watcher(const signal_watcher&) = delete;
  signal_watcher& operator=(const signal_watcher&) = delete;

 private:
  void run();

  std::function<void(int)> on_signal_;
  archive::unique_fd signals_;
  archive::unique_fd stop_;  // an eventfd: readable once the destructor runs
  std::thread thread_;       // last: started after everything it uses
};

}  // namespace sevenzfs::fs
