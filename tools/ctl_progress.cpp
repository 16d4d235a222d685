#include "ctl_progress.hpp"

#include "ctl_stats_format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace sevenzfs::tools {

namespace {

std::optional<std::uint64_t> read_count(root_xattrs& xattrs, std::string_view key) {
  const auto text = xattrs.get(key);
  if (!text) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc{} || end != text->data() + text->size()) return std::nullopt;
  return value;
}

// As the daemon's commit_progress_percent (progress_of): 100 % only when
// nothing is pending and no commit runs. With every byte compressed, a
// commit still writes the header and syncs; bytes compressed before any
// commit are not in the archive yet.
double percent_of(const commit_figures& figures) {
  if (figures.pending_bytes == 0) return figures.committing ? 99.9 : 100.0;
  return std::min(99.9, 100.0 * static_cast<double>(figures.done_bytes) / static_cast<double>(figures.pending_bytes));
}

}  // namespace

std::optional<commit_figures> read_commit_figures(root_xattrs& xattrs) {
  const auto committing = read_count(xattrs, "committing");
  const auto pending = read_count(xattrs, "commit_pending_bytes");
  const auto done = read_count(xattrs, "commit_done_bytes");
  if (!committing || !pending || !done) return std::nullopt;
  return commit_figures{*committing != 0, *pending, *done};
}

std::string format_progress_bar(std::string_view label, const commit_figures& figures, double bytes_per_second,
                                unsigned width) {
  const double percent = percent_of(figures);
  std::string figures_text =
      fmt::format("{:5.1f} %  {} of {}", percent, format_iec_bytes(static_cast<double>(figures.done_bytes)),
                  format_iec_bytes(static_cast<double>(figures.pending_bytes)));
  std::string rate_text;
  if (bytes_per_second > 0) {
    rate_text = fmt::format("  {}/s", format_iec_bytes(bytes_per_second));
    if (figures.pending_bytes > figures.done_bytes) {
      const double left = static_cast<double>(figures.pending_bytes - figures.done_bytes) / bytes_per_second;
      rate_text += fmt::format("  ETA {}", format_duration(std::ceil(left)));
    }
  }
  // label, " [", bar, "]  ", figures, rate. The bar's width depends on the
  // terminal's alone, room kept for the longest figures and rate: fitted to
  // the text, it shrank as the rate and ETA appeared and grew, and its
  // filled part jumped back. The rate goes when it does not fit.
  constexpr std::size_t kTextRoom = 58;  // " 50.0 %  100.0 MiB of 200.0 MiB  1023.9 KiB/s  ETA 59m 59s"
  const std::size_t fixed = label.size() + 5;
  const std::size_t bar = std::clamp<std::size_t>(width > fixed + kTextRoom ? width - fixed - kTextRoom : 0, 10, 50);
  if (fixed + bar + figures_text.size() + rate_text.size() > width) rate_text.clear();
  const auto filled = static_cast<std::size_t>(std::floor(percent / 100.0 * static_cast<double>(bar)));
  return fmt::format("{} [{}{}]  {}{}", label, std::string(filled, '#'), std::string(bar - filled, '.'), figures_text,
                     rate_text);
}

std::string format_progress_line(std::string_view label, const commit_figures& figures) {
  // A commit with no content to compress (renames, removals, directories)
  // has no bytes to count.
  if (figures.pending_bytes == 0) return fmt::format("{}: committing (no new content)", label);
  // Every byte counted reads 99.9 %: the line says the commit is not done
  // (packs still to copy and sync, the header to write), or "(10 of 10
  // bytes)" looks like a rounding slip.
  const bool counted = figures.done_bytes >= figures.pending_bytes;
  return fmt::format("{}: committing, {:.1f} % ({} of {} bytes{})", label, percent_of(figures), figures.done_bytes,
                     figures.pending_bytes, counted ? "; finishing the commit" : "");
}

progress_display::progress_display(root_xattrs& xattrs, std::FILE* out, std::string label, progress_options options)
    : xattrs_(xattrs), out_(out), label_(std::move(label)), options_(options), thread_([this](std::stop_token stop) {
        run(stop);
      }) {}

progress_display::~progress_display() { stop(); }

void progress_display::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  wake_.notify_all();
  thread_.join();
  if (drawn_ && options_.terminal) {
    fmt::print(out_, "\r{}\r", std::string(options_.width > 0 ? options_.width - 1 : 0, ' '));
    std::fflush(out_);
  }
}

void progress_display::run(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    lock.unlock();
    const auto figures = read_commit_figures(xattrs_);
    lock.lock();
    if (figures && figures->committing) draw(*figures, std::chrono::steady_clock::now());
    wake_.wait_for(lock, stop, options_.poll_interval, [] { return false; });
  }
}

void progress_display::draw(const commit_figures& figures, std::chrono::steady_clock::time_point now) {
  // A new commit (other pending bytes, or done went back): restart the rate.
  if (figures.pending_bytes != rate_pending_ || figures.done_bytes < rate_start_done_ ||
      rate_start_ == std::chrono::steady_clock::time_point{}) {
    rate_pending_ = figures.pending_bytes;
    rate_start_done_ = figures.done_bytes;
    rate_start_ = now;
  }
  const double elapsed = std::chrono::duration<double>(now - rate_start_).count();
  const double rate = elapsed >= 0.5 ? static_cast<double>(figures.done_bytes - rate_start_done_) / elapsed : 0.0;
  if (options_.terminal) {
    const std::string bar = format_progress_bar(label_, figures, rate, options_.width > 0 ? options_.width - 1 : 79);
    const std::size_t pad = options_.width > bar.size() + 1 ? options_.width - 1 - bar.size() : 0;
    fmt::print(out_, "\r{}{}", bar, std::string(pad, ' '));
  } else {
    if (drawn_ && now - last_line_ < options_.line_interval) return;
    // A line only when it says something new: a commit with no new content
    // (one compressing a solid folder again) repeated the same line.
    std::string line = format_progress_line(label_, figures);
    if (line == last_text_) return;
    fmt::print(out_, "{}\n", line);
    last_text_ = std::move(line);
    last_line_ = now;
  }
  std::fflush(out_);
  drawn_ = true;
}

}  // namespace sevenzfs::tools
