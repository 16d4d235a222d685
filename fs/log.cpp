#include "log.hpp"

#include <syslog.h>

namespace sevenzfs::fs {

std::string_view log_level_name(log_level level) noexcept {
  switch (level) {
    case log_level::error: return "error";
    case log_level::warning: return "warning";
    case log_level::info: return "info";
    case log_level::debug: return "debug";
  }
  return "?";
}

logger::logger(sink output, log_level threshold) : output_(std::move(output)), threshold_(threshold) {}

void logger::set_output(sink output) {
  std::lock_guard lock(mutex_);
  output_ = std::move(output);
}

logger::sink logger::to_stream(std::FILE* stream) {
  return [stream](log_level level, std::string_view line) {
    fmt::print(stream, "sevenzfs: {}: {}\n", log_level_name(level), line);
    std::fflush(stream);
  };
}

logger::sink logger::to_syslog() {
  ::openlog("sevenzfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
  return [](log_level level, std::string_view line) {
    int priority = LOG_ERR;
    if (level == log_level::warning) priority = LOG_WARNING;
    if (level == log_level::info) priority = LOG_INFO;
    if (level == log_level::debug) priority = LOG_DEBUG;
    ::syslog(priority, "%.*s", static_cast<int>(line.size()), line.data());
  };
}

void logger::write(log_level level, std::string_view line) {
  if (!enabled(level)) return;
  std::lock_guard lock(mutex_);
  output_(level, line);
}

}  // namespace sevenzfs::fs
