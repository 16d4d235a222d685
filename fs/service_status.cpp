#include "service_status.hpp"

#include <fmt/format.h>

#include <time.h>

namespace sevenzfs::fs {

namespace {

double megabytes(std::uint64_t bytes) { return static_cast<double>(bytes) / 1e6; }

}  // namespace

std::string service_status_text(const commit_figures& figures, const stream_figures& streamed, std::uint64_t staged_files,
                                std::uint64_t staged_bytes) {
  std::string text = fmt::format("{} files staged ({:.1f} MB)", staged_files, megabytes(staged_bytes));
  const auto progress = progress_of(figures, streamed);
  if (figures.running.load()) {
    text += fmt::format("; committing {:.1f} % ({:.1f} of {:.1f} MB)", progress.percent,
                        megabytes(progress.done_bytes), megabytes(progress.pending_bytes));
  } else if (progress.pending_bytes > 0) {
    text += fmt::format("; compressed {:.1f} of {:.1f} MB", megabytes(progress.done_bytes),
                        megabytes(progress.pending_bytes));
  }
  text += fmt::format("; {} commits", figures.commits.load());
  if (const auto failed = figures.failed_commits.load()) text += fmt::format(", {} failed", failed);
  return text;
}

std::chrono::nanoseconds process_cpu_time() noexcept {
  timespec now{};
  if (::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now) != 0) return {};
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

service_status::service_status(service_notifier& notifier, std::string text, cpu_clock cpu_time)
    : notifier_(notifier),
      cpu_time_(std::move(cpu_time)),
      status_([text = std::move(text)] { return text; }),
      thread_([this](std::stop_token stop) { run(stop); }) {}

service_status::~service_status() {
  thread_.request_stop();
  wake_.notify_all();
}

void service_status::set_text(std::string text) {
  set_source([text = std::move(text)] { return text; });
}

void service_status::set_source(std::function<std::string()> status) {
  {
    std::lock_guard lock(mutex_);
    status_ = std::move(status);
  }
  wake_.notify_all();
}

std::string service_status::current_text() {
  std::function<std::string()> status;
  {
    std::lock_guard lock(mutex_);
    status = status_;
  }
  return status();
}

void service_status::ready(std::function<bool()> stop_asked) {
  {
    std::lock_guard lock(mutex_);
    phase_ = phase::running;
    stop_asked_ = std::move(stop_asked);
  }
  notifier_.ready(current_text());
}

void service_status::stopping() {
  bool was_stopping = false;
  {
    std::lock_guard lock(mutex_);
    was_stopping = phase_ == phase::stopping;
    phase_ = phase::stopping;
    stop_asked_ = nullptr;  // what it asks may not outlive the loop
  }
  if (!was_stopping) notifier_.stopping(current_text());
  notifier_.extend_timeout(kExtension);
  wake_.notify_all();
}

void service_status::run(std::stop_token stop) {
  std::string last;
  auto cpu_before = cpu_time_();
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    wake_.wait_for(lock, stop, kPeriod, [] { return false; });
    if (stop.stop_requested()) return;
    lock.unlock();
    std::string text = current_text();
    const auto cpu = cpu_time_();
    // A fifth of a core's time (in milliseconds: a second divided by 5 is 0 seconds).
    const bool worked = text != last || cpu - cpu_before >= std::chrono::milliseconds(kPeriod) / 5;
    cpu_before = cpu;
    if (text != last) notifier_.status(text);
    last = std::move(text);
    lock.lock();
    if (phase_ == phase::running && stop_asked_ && stop_asked_()) {
      phase_ = phase::stopping;
      stop_asked_ = nullptr;
      notifier_.stopping(last);
      notifier_.extend_timeout(kExtension);
      continue;
    }
    // The phase as it is now, under the lock ready() and stopping() take:
    // no extension follows READY=1.
    if (phase_ != phase::running && worked) notifier_.extend_timeout(kExtension);
  }
}

}  // namespace sevenzfs::fs
