#pragma once
// What the daemon tells its service manager: while it starts (a recovery
// archive to commit, a large archive's tree to load), STATUS= lines and
// EXTEND_TIMEOUT_USEC= while it works, so that systemd's start timeout
// measures a stalled start, not a long one; READY=1 once the mount is
// usable; a STATUS= line when the figures change (at most once a second);
// and, once the daemon is asked to stop (SIGTERM) or its final commit
// begins, STOPPING=1 followed by EXTEND_TIMEOUT_USEC= while it works.
//
// Working: the status text changed, or the process used at least a fifth of
// a core's time since the last look. A part of a solid folder (up to 256 MiB
// at level 9) can take minutes to compress, and the figures move only when
// it is written; a commit stalled on I/O or a lock uses no CPU.
#include "committer.hpp"
#include "service_notifier.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace sevenzfs::fs {

// "12 files staged (3.4 MB); committing 45.0 % (10.0 of 22.2 MB)", etc.
std::string service_status_text(const commit_figures& figures, const stream_figures& streamed, std::uint64_t staged_files,
                                std::uint64_t staged_bytes);

// The process's CPU time so far (user and system, all threads).
std::chrono::nanoseconds process_cpu_time() noexcept;

class service_status {
 public:
  using cpu_clock = std::function<std::chrono::nanoseconds()>;

  // Starting, with `text` as the status. `cpu_time` measures the work done
  // (tests give their own).
  service_status(service_notifier& notifier, std::string text, cpu_clock cpu_time = process_cpu_time);
  ~service_status();
  service_status(const service_status&) = delete;
  service_status& operator=(const service_status&) = delete;

  // What the daemon does now, while it starts.
  void set_text(std::string text);
  // `status()` gives the current STATUS text from now on.
  void set_source(std::function<std::string()> status);
  // Mounted: READY=1; no timeout is extended until stopping(), or until
  // `stop_asked` (looked at every period until stopping()) says the daemon
  // was asked to stop: after a SIGTERM the FUSE loop ends only once the
  // requests in progress do, a flush's commit among them, and that commit
  // is stopping work too.
  void ready(std::function<bool()> stop_asked = {});
  // The final commit begins: STOPPING=1 (unless sent already), then timeout
  // extensions.
  void stopping();

  static constexpr std::chrono::seconds kPeriod{1};
  static constexpr std::chrono::seconds kExtension{30};  // each extension outlasts several periods

 private:
  enum class phase { starting, running, stopping };
  std::string current_text();
  void run(std::stop_token stop);

  service_notifier& notifier_;
  cpu_clock cpu_time_;
  std::mutex mutex_;
  std::function<std::string()> status_;  // guarded by mutex_
  std::function<bool()> stop_asked_;     // guarded by mutex_; dropped by stopping()
  std::condition_variable_any wake_;
  phase phase_ = phase::starting;
  std::jthread thread_;  // last: started after everything it uses
};

}  // namespace sevenzfs::fs
