#include "service_status.hpp"

#include <fmt/format.h>

namespace sevenzfs::fs {

namespace {

using namespace std::chrono_literals;
constexpr auto kStatusPeriod = 1s;
constexpr auto kExtension = 30s;  // each extension outlasts several periods

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

service_status::service_status(service_notifier& notifier, std::function<std::string()> status)
    : notifier_(notifier), status_(std::move(status)), thread_([this](std::stop_token stop) { run(stop); }) {}

service_status::~service_status() {
  thread_.request_stop();
  wake_.notify_all();
}

void service_status::ready() { notifier_.ready(status_()); }

void service_status::stopping() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  notifier_.stopping(status_());
  notifier_.extend_timeout(kExtension);
  wake_.notify_all();
}

void service_status::run(std::stop_token stop) {
  std::string last;
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    wake_.wait_for(lock, stop, kStatusPeriod, [] { return false; });
    if (stop.stop_requested()) return;
    const bool stopping = stopping_;
    lock.unlock();
    std::string text = status_();
    if (text != last) notifier_.status(text);
    // Only a commit that moves keeps the stop timeout away.
    if (stopping && text != last) notifier_.extend_timeout(kExtension);
    last = std::move(text);
    lock.lock();
  }
}

}  // namespace sevenzfs::fs
