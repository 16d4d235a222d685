#include "log.hpp"

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

logger::sink logger::to_stream(std::FILE* stream) {
  return [stream](log_level level, std::string_view line) {
    fmt::print(stream, "sevenzfs: {}: {}\n", log_level_name(level), line);
    std::fflush(stream);
  };
}

void logger::write(log_level level, std::string_view line) {
  if (!enabled(level)) return;
  std::lock_guard lock(mutex_);
  output_(level, line);
}

}  // namespace sevenzfs::fs
