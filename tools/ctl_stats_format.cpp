#include "ctl_stats_format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <string_view>

namespace sevenzfs::tools {

namespace {

// HELP texts of the keys the daemon documents (xattr contract); a key it adds
// later still gets a metric, with a generic text.
constexpr std::pair<std::string_view, std::string_view> kHelp[] = {
    {"pid", "Process id of the sevenzfs daemon."},
    {"uptime_seconds", "Seconds since the daemon started."},
    {"level", "Compression level (0-9)."},
    {"files", "Regular files and symlinks in the mount."},
    {"directories", "Directories in the mount, the root included."},
    {"files_under_16k", "Files smaller than 16 KiB."},
    {"files_under_1m", "Files from 16 KiB to under 1 MiB."},
    {"files_1m_or_more", "Files of 1 MiB or more."},
    {"staged_files", "Files with content not yet committed to the archive."},
    {"staged_bytes", "Bytes of content not yet committed to the archive."},
    {"archived_files", "Entries with content in the archive."},
    {"archived_bytes", "Unpacked bytes of the entries with content in the archive."},
    {"archive_bytes", "Size of the archive file."},
    {"packed_bytes", "Bytes of packed streams in the archive."},
    {"dead_bytes", "Bytes of the archive file no header references (reclaimed by compaction)."},
    {"packed_to_unpacked_ratio", "packed_bytes / archived_bytes (0.038 = 3.8 %; 0 when empty)."},
    {"pool_bytes", "Size of the staging pool."},
    {"pool_free_bytes", "Free bytes in the staging pool."},
    {"pool_high_water_bytes", "Most bytes of the staging pool ever in use."},
    {"pool_waits_total", "Writes that waited for staging pool memory."},
    {"pool_wait_seconds_total", "Seconds writes waited for staging pool memory."},
    {"cache_bytes", "Size of the read-back cache."},
    {"cache_hits_total", "Read-back cache hits."},
    {"cache_misses_total", "Read-back cache misses."},
    {"commits_total", "Successful commits."},
    {"failed_commits_total", "Failed commits."},
    {"committing", "1 while a commit runs, else 0."},
    {"commit_pending_bytes", "Bytes the running or last commit must compress and write."},
    {"commit_done_bytes", "Bytes the running or last commit has compressed and written."},
    {"commit_progress_percent", "Progress of the running commit; 100 when nothing is pending and no commit runs."},
    {"last_commit_unix_seconds", "When the last successful commit ended (0: never)."},
    {"last_commit_duration_seconds", "Duration of the last successful commit."},
    {"last_commit_files", "Files in the last successful commit."},
    {"last_commit_bytes", "Bytes in the last successful commit."},
    {"last_commit_continued_bytes",
     "Of those, archived bytes of grown files that were continued, not compressed again."},
    {"last_commit_bytes_per_second", "Throughput of the last successful commit."},
    {"last_commit_files_per_second", "Files per second of the last successful commit."},
    {"last_error_unix_seconds", "When the last failure happened (0: never)."},
};

std::string help_of(std::string_view key) {
  for (const auto& [name, help] : kHelp) {
    if (name == key) return std::string(help);
  }
  return fmt::format("sevenzfs statistic {}.", key);
}

bool ends_with(std::string_view text, std::string_view suffix) { return text.ends_with(suffix); }

// Prometheus names: [a-zA-Z_][a-zA-Z0-9_]*.
std::string metric_name(std::string_view key) {
  std::string name;
  for (const char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    name += ok ? c : '_';
  }
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) name = fmt::format("_{}", name);
  return name;
}

// Label values: backslash, double quote and newline escaped.
std::string escape_label(std::string_view value) {
  std::string escaped;
  for (const char c : value) {
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '"') {
      escaped += "\\\"";
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

// A string value on one line: control characters as \n, \t or \xNN.
std::string printable(std::string_view value) {
  std::string shown;
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      shown += "\\n";
    } else if (c == '\t') {
      shown += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      shown += fmt::format("\\x{:02x}", byte);
    } else {
      shown += c;
    }
  }
  return shown;
}

std::string annotate(const stat_entry& entry, double value, std::time_t now) {
  const std::string_view key = entry.key;
  if (ends_with(key, "_bytes_per_second")) return format_iec_bytes(value) + "/s";
  if (ends_with(key, "_bytes")) return value >= 1024 ? format_iec_bytes(value) : "";
  if (ends_with(key, "_unix_seconds")) {
    if (value <= 0) return "never";
    const auto when = static_cast<std::time_t>(value);
    const double ago = static_cast<double>(now - when);
    return ago >= 0 ? fmt::format("{}, {} ago", format_utc(when), format_duration(std::floor(ago))) : format_utc(when);
  }
  if (ends_with(key, "_seconds") || ends_with(key, "_seconds_total")) {
    return value >= 60 ? format_duration(std::floor(value)) : "";
  }
  if (key == "packed_to_unpacked_ratio") return fmt::format("{:.1f} % of the unpacked size", value * 100);
  return "";
}

}  // namespace

std::string format_iec_bytes(double bytes) {
  static constexpr std::array<std::string_view, 6> kUnits{"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  std::size_t unit = 0;
  while (bytes >= 1024 && unit + 1 < kUnits.size()) {
    bytes /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, kUnits[unit]);
}

std::string format_duration(double seconds) {
  if (seconds < 60) {
    return seconds == std::floor(seconds) ? fmt::format("{:.0f}s", seconds) : fmt::format("{:.2f}s", seconds);
  }
  auto total = static_cast<std::uint64_t>(seconds);
  const std::uint64_t days = total / 86400;
  const std::uint64_t hours = total / 3600 % 24;
  const std::uint64_t minutes = total / 60 % 60;
  const std::uint64_t rest = total % 60;
  std::string text;
  if (days) text += fmt::format("{}d ", days);
  if (days || hours) text += fmt::format("{}h ", hours);
  text += fmt::format("{}m {}s", minutes, rest);
  return text;
}

std::string format_utc(std::time_t when) {
  std::tm parts{};
  ::gmtime_r(&when, &parts);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                     parts.tm_hour, parts.tm_min, parts.tm_sec);
}

std::string format_human(const stat_list& stats, std::time_t now) {
  std::size_t key_width = 0;
  std::size_t value_width = 0;
  for (const auto& entry : stats) {
    key_width = std::max(key_width, entry.key.size());
    if (!entry.is_string) value_width = std::max(value_width, entry.text.size());
  }
  std::string text;
  for (const auto& entry : stats) {
    if (entry.is_string) {
      text += fmt::format("{:<{}}  {}\n", entry.key, key_width, entry.text.empty() ? "(none)" : printable(entry.text));
      continue;
    }
    const auto value = number_value(entry);
    const std::string note = value ? annotate(entry, *value, now) : "";
    if (note.empty()) {
      text += fmt::format("{:<{}}  {}\n", entry.key, key_width, entry.text);
    } else {
      text += fmt::format("{:<{}}  {:<{}}  {}\n", entry.key, key_width, entry.text, value_width, note);
    }
  }
  return text;
}

std::string format_prometheus(const std::vector<mount_stats>& mounts) {
  std::string text;
  text += "# HELP sevenzfs_info Facts about a sevenzfs mount as labels; always 1.\n";
  text += "# TYPE sevenzfs_info gauge\n";
  for (const auto& mount : mounts) {
    std::string labels = fmt::format("mountpoint=\"{}\"", escape_label(mount.mountpoint));
    for (const auto& entry : mount.stats) {
      if (entry.is_string && metric_name(entry.key) != "mountpoint") {
        labels += fmt::format(",{}=\"{}\"", metric_name(entry.key), escape_label(entry.text));
      }
    }
    text += fmt::format("sevenzfs_info{{{}}} 1\n", labels);
  }
  // Metrics in the order the first mount lists them; each once, with a
  // sample per mount that has it (a second # HELP for a name is an error).
  std::vector<std::string> keys;
  for (const auto& mount : mounts) {
    for (const auto& entry : mount.stats) {
      if (!entry.is_string && std::find(keys.begin(), keys.end(), entry.key) == keys.end()) {
        keys.push_back(entry.key);
      }
    }
  }
  for (const auto& key : keys) {
    const std::string name = fmt::format("sevenzfs_{}", metric_name(key));
    text += fmt::format("# HELP {} {}\n", name, help_of(key));
    text += fmt::format("# TYPE {} {}\n", name, ends_with(key, "_total") ? "counter" : "gauge");
    for (const auto& mount : mounts) {
      if (const auto* entry = find_stat(mount.stats, key); entry && !entry->is_string) {
        text += fmt::format("{}{{mountpoint=\"{}\"}} {}\n", name, escape_label(mount.mountpoint), entry->text);
      }
    }
  }
  return text;
}

std::string format_watch_line(const stat_list& stats, std::time_t now) {
  static constexpr std::string_view kKeys[] = {"files",           "staged_files",         "staged_bytes",
                                               "archived_files",  "archived_bytes",       "archive_bytes",
                                               "pool_free_bytes", "committing",           "commit_progress_percent",
                                               "commits_total",   "failed_commits_total", "last_error_unix_seconds"};
  std::tm parts{};
  ::gmtime_r(&now, &parts);
  std::string line = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", parts.tm_year + 1900, parts.tm_mon + 1,
                                 parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec);
  for (const auto key : kKeys) {
    if (const auto* entry = find_stat(stats, key)) line += fmt::format(" {}={}", key, entry->text);
  }
  return line;
}

}  // namespace sevenzfs::tools
