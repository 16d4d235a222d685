#pragma once
// The progress of a commit while sevenzfs-ctl waits for the daemon's reply
// to a control (flush, unmount): polled from another thread, because the
// thread that set the control is blocked until the commit is durable.
#include "ctl_mount.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace sevenzfs::tools {

struct commit_figures {
  bool committing = false;
  std::uint64_t pending_bytes = 0;
  std::uint64_t done_bytes = 0;
};

// Reads committing, commit_pending_bytes and commit_done_bytes; nothing if
// one cannot be read.
std::optional<commit_figures> read_commit_figures(root_xattrs& xattrs);

// "flush [########......]  45.2 %  123.4 MiB of 273.0 MiB  12.3 MiB/s  ETA 12s",
// at most `width` columns (the rate and ETA only when known and room allows).
std::string format_progress_bar(std::string_view label, const commit_figures& figures, double bytes_per_second,
                                unsigned width);
// "flush: committing, 45.2 % (123456 of 273000 bytes)"
std::string format_progress_line(std::string_view label, const commit_figures& figures);

struct progress_options {
  bool terminal = false;  // a bar redrawn in place; otherwise plain lines
  unsigned width = 80;
  std::chrono::milliseconds poll_interval{200};
  std::chrono::milliseconds line_interval{5000};  // plain lines: at most one per interval
};

// Shows the progress of commits from construction until stop() (or
// destruction): reads the figures every poll interval and draws while a
// commit runs. stop() clears the bar so that the caller's next line starts
// on a clean line.
class progress_display {
 public:
  progress_display(root_xattrs& xattrs, std::FILE* out, std::string label, progress_options options);
  ~progress_display();
  progress_display(const progress_display&) = delete;
  progress_display& operator=(const progress_display&) = delete;

  void stop();

 private:
  void run(std::stop_token stop);
  void draw(const commit_figures& figures, std::chrono::steady_clock::time_point now);

  root_xattrs& xattrs_;
  std::FILE* out_;
  std::string label_;
  progress_options options_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_line_{};
  std::string last_text_;  // the last line printed (not on a terminal)
  // Rate of the running commit: where it was when first seen.
  std::uint64_t rate_pending_ = 0;
  std::uint64_t rate_start_done_ = 0;
  std::chrono::steady_clock::time_point rate_start_{};
  std::jthread thread_;  // last: starts once everything above is set
};

}  // namespace sevenzfs::tools
