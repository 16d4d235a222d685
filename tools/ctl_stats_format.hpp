#pragma once
// The three views of a mount's statistics that sevenzfs-ctl prints: aligned
// lines for people, the Prometheus text format (node_exporter's textfile
// collector), and one key=value line per sample for logs (watch, not a terminal).
#include "ctl_stats.hpp"

#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

namespace sevenzfs::tools {

// "117.7 MiB"; below 1 KiB "512 B".
std::string format_iec_bytes(double bytes);
// "1d 2h 3m 4s", "2m 5s", "42s"; fractions below a minute: "1.25s".
std::string format_duration(double seconds);
// "2024-05-01 12:51:30 UTC"
std::string format_utc(std::time_t when);

// One line per value: the key, the value as the daemon wrote it, and what it
// means in units (sizes in KiB/MiB/GiB, durations, dates, percentages).
// `now` dates the "ago" of timestamps.
std::string format_human(const stat_list& stats, std::time_t now);

struct mount_stats {
  std::string mountpoint;
  stat_list stats;
};

// Prometheus text format 0.0.4: for each metric one # HELP and one # TYPE
// line, then one sample per mount labelled mountpoint="...". Numbers are
// sevenzfs_<key> (counters end in _total); the strings are the labels of
// sevenzfs_info{...} 1.
std::string format_prometheus(const std::vector<mount_stats>& mounts);

// "2024-05-01T12:51:30Z staged_files=3 staged_bytes=123 ..." (no newline).
std::string format_watch_line(const stat_list& stats, std::time_t now);

}  // namespace sevenzfs::tools
