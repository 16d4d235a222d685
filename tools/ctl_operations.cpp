#include "ctl_operations.hpp"

#include "ctl_progress.hpp"
#include "ctl_stats.hpp"
#include "ctl_stats_format.hpp"

#include "archive/archive_error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <thread>

namespace sevenzfs::tools {

namespace {

using clock_type = std::chrono::steady_clock;

// A sevenzfs mount found and answering: its entry, its root's xattrs and
// the daemon's pid.
struct opened_mount {
  std::string given;  // as on the command line, for messages
  mount_entry mount;
  std::unique_ptr<root_xattrs> xattrs;
  long pid = 0;
};

std::vector<mount_entry> current_mounts(const ctl_environment& environment) {
  return parse_mountinfo(read_text_file(environment.mountinfo));
}

void print_daemon_gone(const ctl_output& io, const std::string& path, const std::string& mountpoint) {
  fmt::print(io.err, "sevenzfs-ctl: {}: the sevenzfs daemon of this mount is gone; `fusermount3 -u {}` removes it\n",
             path, mountpoint);
}

std::optional<opened_mount> open_mount(const ctl_environment& environment, const ctl_output& io,
                                       const std::string& path) {
  auto found = find_sevenzfs_mount(path, current_mounts(environment));
  if (!found) {
    fmt::print(io.err, "sevenzfs-ctl: {}\n", found.error());
    return std::nullopt;
  }
  auto xattrs = environment.open_xattrs(found->mountpoint);
  opened_mount opened{path, std::move(*found), std::move(xattrs), 0};
  const auto pid_text = opened.xattrs->get("pid");
  long pid = 0;
  if (pid_text) {
    const auto [end, ec] = std::from_chars(pid_text->data(), pid_text->data() + pid_text->size(), pid);
    if (ec != std::errc{} || end != pid_text->data() + pid_text->size()) pid = 0;
  }
  if (!pid_text || pid <= 0) {
    const int error = pid_text ? EINVAL : pid_text.error();
    if (error == ENOTCONN) {
      print_daemon_gone(io, path, opened.mount.mountpoint);
    } else if (error == ENODATA || error == ENOTSUP || error == EINVAL) {
      fmt::print(io.err,
                 "sevenzfs-ctl: {}: is mounted as {} but its root has no valid user.sevenzfs.pid: not a sevenzfs "
                 "daemon this sevenzfs-ctl understands\n",
                 path, kSevenzfsFstype);
    } else {
      fmt::print(io.err, "sevenzfs-ctl: {}: cannot read user.sevenzfs.pid: {}\n", path, std::strerror(error));
    }
    return std::nullopt;
  }
  opened.pid = pid;
  return opened;
}

std::string value_or(root_xattrs& xattrs, std::string_view key, std::string fallback) {
  auto value = xattrs.get(key);
  return value && !value->empty() ? std::move(*value) : std::move(fallback);
}

std::string archive_of(opened_mount& opened) { return value_or(*opened.xattrs, "archive", opened.mount.source); }

progress_options progress_for(const ctl_environment& environment, const ctl_output& io) {
  return {io.terminal, io.width, environment.poll_interval, environment.progress_line_interval};
}

// After a failed final commit the mount stays. Retrying helps unless the
// daemon makes no commit until the archive is mounted again: then only an
// unmount by fusermount3 ends it, and the daemon saves what is not
// committed in the recovery archive, which the next mount commits.
void print_unmount_advice(const ctl_output& io, opened_mount& opened, int error, const std::string& last_error) {
  if (last_error.find(archive::kNoCommitUntilRemount) == std::string::npos) {
    fmt::print(io.err,
               "sevenzfs-ctl: {}: still mounted, nothing is lost; remove the cause (e.g. free space) and run "
               "sevenzfs-ctl unmount again\n",
               opened.given);
    // The daemon's own pending files may be what fills the disk.
    if (error == ENOSPC || error == EDQUOT) {
      fmt::print(io.err,
                 "sevenzfs-ctl: {}: if no space can be freed, unmount with fusermount3 -u: the daemon then removes "
                 "its pending files and saves what is not committed to {}.recovery.7z (or, when that does not "
                 "fit, into its recovery_dir: the daemon's log names it), which the next mount commits\n",
                 opened.given, value_or(*opened.xattrs, "archive", "ARCHIVE"));
    }
    return;
  }
  fmt::print(io.err,
             "sevenzfs-ctl: {}: still mounted, and retrying cannot help; unmount it with fusermount3 -u: the daemon "
             "then saves what is not committed to {}.recovery.7z, which the next mount commits\n",
             opened.given, value_or(*opened.xattrs, "archive", "ARCHIVE"));
}

// The daemon refused or failed a control: one message saying why and what now.
int control_failed(const ctl_output& io, opened_mount& opened, std::string_view control, int error) {
  const std::string& path = opened.given;
  if (error == EPERM || error == EACCES) {
    fmt::print(io.err, "sevenzfs-ctl: {}: {} is only for the user who mounted it and root\n", path, control);
  } else if (error == ENOTSUP || error == ENODATA || error == ENOSYS) {
    fmt::print(io.err, "sevenzfs-ctl: {}: this sevenzfs daemon (version {}) does not support {}\n", path,
               value_or(*opened.xattrs, "version", "unknown"), control);
  } else if (error == ENOTCONN) {
    fmt::print(io.err, "sevenzfs-ctl: {}: the daemon died during {}; the archive holds its last good commit\n", path,
               control);
  } else {
    const auto last_error = value_or(*opened.xattrs, "last_error", "");
    fmt::print(io.err, "sevenzfs-ctl: {}: {} failed: {}{}{}\n", path, control, std::strerror(error),
               last_error.empty() ? "" : ": ", last_error);
    if (control == "unmount") print_unmount_advice(io, opened, error, last_error);
  }
  return kCtlFailed;
}

// Sets `control` while a progress display shows the commits it waits for.
int set_with_progress(const ctl_environment& environment, const ctl_output& io, opened_mount& opened,
                      std::string_view control) {
  progress_display progress(*opened.xattrs, io.out, std::string(control), progress_for(environment, io));
  const int error = opened.xattrs->set(control);
  progress.stop();
  return error;
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

std::optional<stat_list> read_stats(opened_mount& opened, const ctl_output& io, std::string* raw = nullptr) {
  auto document = opened.xattrs->get("stats");
  if (!document) {
    fmt::print(io.err, "sevenzfs-ctl: {}: cannot read user.sevenzfs.stats: {}\n", opened.given,
               std::strerror(document.error()));
    return std::nullopt;
  }
  auto stats = parse_stats_json(*document);
  if (!stats) {
    fmt::print(io.err, "sevenzfs-ctl: {}: {}\n", opened.given, stats.error());
    return std::nullopt;
  }
  if (raw) *raw = std::move(*document);
  return std::move(*stats);
}

}  // namespace

int run_flush(const ctl_environment& environment, const ctl_output& io, const std::string& path) {
  auto opened = open_mount(environment, io, path);
  if (!opened) return kCtlNotSevenzfs;
  const auto start = clock_type::now();
  if (const int error = set_with_progress(environment, io, *opened, "flush"); error != 0) {
    return control_failed(io, *opened, "flush", error);
  }
  fmt::print(io.out, "{}: flushed: everything written so far is in {} ({})\n", path, archive_of(*opened),
             format_duration(std::round(seconds_since(start) * 100) / 100));
  return kCtlOk;
}

// Several mounts: those that cannot be read are reported and the others
// printed all the same (a node_exporter scrape keeps the healthy ones); a
// mount named twice, under any spelling, is printed once (duplicate samples
// make the whole exposition invalid). The exit status is the first failure's.
int run_stats(const ctl_environment& environment, const ctl_output& io, const std::vector<std::string>& paths,
              stats_format format) {
  std::vector<mount_stats> mounts;
  int status = kCtlOk;
  const auto failed = [&](int code) {
    if (status == kCtlOk) status = code;
  };
  for (const auto& path : paths) {
    auto opened = open_mount(environment, io, path);
    if (!opened) {
      failed(kCtlNotSevenzfs);
      continue;
    }
    if (std::ranges::any_of(mounts, [&](const mount_stats& m) { return m.mountpoint == opened->mount.mountpoint; })) {
      continue;
    }
    std::string raw;
    auto stats = read_stats(*opened, io, &raw);
    if (!stats) {
      failed(kCtlFailed);
      continue;
    }
    if (format == stats_format::json) {
      fmt::print(io.out, "{}{}", raw, raw.ends_with('\n') ? "" : "\n");
      return kCtlOk;
    }
    mounts.push_back({opened->mount.mountpoint, std::move(*stats)});
  }
  if (format == stats_format::prometheus) {
    if (!mounts.empty()) fmt::print(io.out, "{}", format_prometheus(mounts));
    return status;
  }
  for (std::size_t i = 0; i < mounts.size(); ++i) {
    if (paths.size() > 1) fmt::print(io.out, "{}{}:\n", i > 0 ? "\n" : "", mounts[i].mountpoint);
    fmt::print(io.out, "{}", format_human(mounts[i].stats, std::time(nullptr)));
  }
  return status;
}

int run_watch(const ctl_environment& environment, const ctl_output& io, const std::string& path,
              double interval_seconds, std::optional<std::uint64_t> count) {
  auto opened = open_mount(environment, io, path);
  if (!opened) return kCtlNotSevenzfs;
  const auto interval =
      std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(interval_seconds));
  auto next = clock_type::now();
  for (std::uint64_t update = 0; !count || update < *count; ++update) {
    if (update > 0) {
      next += interval;
      std::this_thread::sleep_until(next);
    }
    auto document = opened->xattrs->get("stats");
    if (!document && !is_sevenzfs_mounted(opened->mount.mountpoint, current_mounts(environment))) {
      fmt::print(io.out, "{}: unmounted\n", path);
      return kCtlOk;
    }
    if (!document && document.error() == ENOTCONN) {
      print_daemon_gone(io, path, opened->mount.mountpoint);
      return kCtlNotSevenzfs;
    }
    auto stats = read_stats(*opened, io);
    if (!stats) return kCtlFailed;
    const std::time_t now = std::time(nullptr);
    if (!io.terminal) {
      fmt::print(io.out, "{}\n", format_watch_line(*stats, now));
    } else {
      // Home, clear; then the view.
      std::string view = fmt::format("\x1b[H\x1b[2J{} — sevenzfs-ctl watch, every {}, {}\n\n", opened->mount.mountpoint,
                                     format_duration(interval_seconds), format_utc(now));
      view += format_human(*stats, now);
      const auto committing = count_stat(*stats, "committing");
      const auto pending = count_stat(*stats, "commit_pending_bytes");
      const auto done = count_stat(*stats, "commit_done_bytes");
      if (committing && *committing && pending && done) {
        view += fmt::format("\n{}\n", format_progress_bar("commit", {true, *pending, *done}, 0, io.width - 1));
      }
      fmt::print(io.out, "{}", view);
    }
    std::fflush(io.out);
  }
  return kCtlOk;
}

int run_unmount(const ctl_environment& environment, const ctl_output& io, const std::string& path,
                double timeout_seconds) {
  auto opened = open_mount(environment, io, path);
  if (!opened) return kCtlNotSevenzfs;
  // Before the control: afterwards the root answers no more.
  const auto daemon = find_process(environment.proc, opened->pid);
  const std::string archive = archive_of(*opened);
  if (const int error = set_with_progress(environment, io, *opened, "unmount"); error != 0) {
    return control_failed(io, *opened, "unmount", error);
  }
  // Committed; now the daemon unmounts itself and exits. Wait for both, so
  // that a script can use the archive (and the mountpoint) right after.
  const std::string committed = opened->mount.read_only ? fmt::format("read-only, {} was not written", archive)
                                                        : fmt::format("everything is committed to {}", archive);
  const auto start = clock_type::now();
  bool mounted = true;
  bool running = true;
  while (true) {
    mounted = is_sevenzfs_mounted(opened->mount.mountpoint, current_mounts(environment));
    running = daemon && is_running(environment.proc, *daemon);
    if (!mounted && !running) break;
    if (timeout_seconds > 0 && seconds_since(start) >= timeout_seconds) {
      // Detached but running: the kernel keeps the connection while anything
      // in the mount is open, and the daemon ends when it is closed.
      fmt::print(io.err, "sevenzfs-ctl: {}: {}, but after {} the daemon (pid {}) {}\n", path, committed,
                 format_duration(timeout_seconds), opened->pid,
                 mounted ? (running ? "is still running and the mount is still there"
                                    : "has exited but the mount is still there")
                         : "is still running: the mount is detached, but a file or directory in it is still open "
                           "(a descriptor, or a shell's working directory); the daemon ends once that is closed, "
                           "and refuses writes through it meanwhile");
      return kCtlFailed;
    }
    std::this_thread::sleep_for(environment.poll_interval);
  }
  fmt::print(io.out, "{}: {}; unmounted; {}\n", path, committed,
             daemon ? fmt::format("the daemon (pid {}) has exited", opened->pid)
                    : std::string("the daemon's process is not visible here"));
  return kCtlOk;
}

int run_compact(const ctl_environment& environment, const ctl_output& io, const std::string& path) {
  auto opened = open_mount(environment, io, path);
  if (!opened) return kCtlNotSevenzfs;
  const auto before = value_or(*opened->xattrs, "archive_bytes", "");
  const auto start = clock_type::now();
  if (const int error = opened->xattrs->set("compact"); error != 0)
    return control_failed(io, *opened, "compact", error);
  const auto after = value_or(*opened->xattrs, "archive_bytes", "");
  const auto bytes = [](const std::string& text) -> std::optional<double> {
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
  };
  const auto old_size = bytes(before);
  const auto new_size = bytes(after);
  const std::string sizes = old_size && new_size
                                ? fmt::format("{} -> {}, ", format_iec_bytes(*old_size), format_iec_bytes(*new_size))
                                : std::string();
  fmt::print(io.out, "{}: compacted {} ({}{})\n", path, archive_of(*opened), sizes,
             format_duration(std::round(seconds_since(start) * 100) / 100));
  return kCtlOk;
}

}  // namespace sevenzfs::tools
