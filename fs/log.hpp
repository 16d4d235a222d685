#pragma once
// The daemon's logger: levels, one line per message, and a sink decided by
// whoever runs the daemon (stderr in the foreground; tests capture lines).
// Thread-safe: lines from concurrent threads never interleave.
#include <fmt/format.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace sevenzfs::fs {

enum class log_level { error = 0, warning = 1, info = 2, debug = 3 };

std::string_view log_level_name(log_level level) noexcept;

class logger {
 public:
  using sink = std::function<void(log_level, std::string_view line)>;

  // Lines above `threshold` are dropped before they are formatted.
  explicit logger(sink output, log_level threshold = log_level::info);
  logger(const logger&) = delete;
  logger& operator=(const logger&) = delete;

  // Writes "sevenzfs: <level>: <line>" to `stream`.
  static sink to_stream(std::FILE* stream);

  void set_threshold(log_level threshold) noexcept { threshold_.store(threshold, std::memory_order_relaxed); }
  bool enabled(log_level level) const noexcept { return level <= threshold_.load(std::memory_order_relaxed); }

  void write(log_level level, std::string_view line);

  template <typename... Args>
  void error(fmt::format_string<Args...> format, Args&&... args) {
    emit(log_level::error, format, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void warning(fmt::format_string<Args...> format, Args&&... args) {
    emit(log_level::warning, format, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void info(fmt::format_string<Args...> format, Args&&... args) {
    emit(log_level::info, format, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void debug(fmt::format_string<Args...> format, Args&&... args) {
    emit(log_level::debug, format, std::forward<Args>(args)...);
  }

 private:
  template <typename... Args>
  void emit(log_level level, fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(level)) write(level, fmt::format(format, std::forward<Args>(args)...));
  }

  sink output_;
  std::atomic<log_level> threshold_;
  std::mutex mutex_;
};

}  // namespace sevenzfs::fs
