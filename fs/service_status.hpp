#pragma once
// What the daemon tells its service manager while it runs: READY=1 once the
// mount is usable, a STATUS= line when the figures change (at most once a
// second), and, once the final commit begins, STOPPING=1 followed by
// EXTEND_TIMEOUT_USEC= every few seconds while it makes progress, so that
// systemd's stop timeout measures a stalled commit, not a long one.
#include "committer.hpp"
#include "service_notifier.hpp"

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace sevenzfs::fs {

// "12 files staged (3.4 MB); committing 45.0 % (10.0 of 22.2 MB)", etc.
std::string service_status_text(const commit_figures& figures, const stream_figures& streamed, std::uint64_t staged_files,
                                std::uint64_t staged_bytes);

class service_status {
 public:
  // `status()` gives the current STATUS text.
  service_status(service_notifier& notifier, std::function<std::string()> status);
  ~service_status();
  service_status(const service_status&) = delete;
  service_status& operator=(const service_status&) = delete;

  void ready();
  // The final commit begins: STOPPING=1, then timeout extensions.
  void stopping();

 private:
  void run(std::stop_token stop);

  service_notifier& notifier_;
  std::function<std::string()> status_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  bool stopping_ = false;
  std::jthread thread_;  // last: started after everything it uses
};

}  // namespace sevenzfs::fs
