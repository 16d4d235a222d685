#include "ctl_command.hpp"

#include "ctl_operations.hpp"
#include "command_line.hpp"
#include "sevenzfs/version.hpp"

#include <fmt/format.h>

#include <sys/ioctl.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace sevenzfs::tools {

namespace {

constexpr const char* kUsage =
    "usage: sevenzfs-ctl COMMAND MOUNTPOINT [OPTIONS]\n"
    "Controls and watches a sevenzfs mount through the xattrs on its root (flush\n"
    "and compact by ioctl there), so it works for every user who may use the\n"
    "mount (flush, unmount and compact: the user who mounted it and root).\n"
    "\n"
    "  flush MOUNTPOINT         commit everything written so far; returns once it is\n"
    "                           in the archive (a progress bar on a terminal)\n"
    "  stats MOUNTPOINT...      statistics: aligned lines with units, or\n"
    "    --json                 the daemon's JSON document as is (one MOUNTPOINT)\n"
    "    --prometheus           Prometheus text format for node_exporter's textfile\n"
    "                           collector, a mountpoint label on every sample\n"
    "  watch MOUNTPOINT         live statistics, redrawn; one line per update when\n"
    "                           the output is not a terminal\n"
    "    --interval S           seconds between updates (1)\n"
    "    --count N              stop after N updates (never)\n"
    "  unmount MOUNTPOINT       final commit, then unmount, then wait until the\n"
    "                           daemon has exited; if the commit fails the mount\n"
    "                           stays and nothing is lost (a read-only mount:\n"
    "                           nothing to commit)\n"
    "    --timeout S            seconds to wait for the exit after the commit (60;\n"
    "                           0: no limit)\n"
    "  compact MOUNTPOINT       rewrite the archive without dead bytes\n"
    "  -h, --help               this text\n"
    "  -V, --version            the version\n"
    "Exit status: 0 done; 1 the operation failed (flush, unmount: not everything is\n"
    "committed); 2 bad command line; 3 MOUNTPOINT is not a sevenzfs mount (missing,\n"
    "not a mount point, another filesystem, or its daemon is gone).\n";

struct usage_error {
  std::string message;
};

struct ctl_request {
  std::string command;
  std::vector<std::string> mountpoints;
  stats_format format = stats_format::human;
  bool format_given = false;
  std::optional<double> interval;
  std::optional<std::uint64_t> count;
  std::optional<double> timeout;
  bool help = false;  // -h given with other short options (-hV)
  bool version = false;
};

double parse_seconds(std::string_view option, std::string_view text, double minimum) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(value) || value < minimum ||
      value > 1e9) {
    throw usage_error{fmt::format("{} expects a number of seconds (at least {}), got '{}'", option, minimum, text)};
  }
  return value;
}

ctl_request parse(const std::vector<std::string>& args) {
  enum : int { kJson = 256, kPrometheus, kInterval, kCount, kTimeout };
  static constexpr option kOptions[] = {{"json", no_argument, nullptr, kJson},
                                        {"prometheus", no_argument, nullptr, kPrometheus},
                                        {"interval", required_argument, nullptr, kInterval},
                                        {"count", required_argument, nullptr, kCount},
                                        {"timeout", required_argument, nullptr, kTimeout},
                                        {"help", no_argument, nullptr, 'h'},
                                        {"version", no_argument, nullptr, 'V'},
                                        {nullptr, 0, nullptr, 0}};
  ctl_request request;
  command_line line(args, "hV");
  for (;;) {
    auto next = line.next(kOptions);
    if (next.what == command_line::item::kind::end) break;
    if (next.what == command_line::item::kind::error) throw usage_error{next.value};
    if (next.what == command_line::item::kind::positional) {
      (request.command.empty() ? request.command : request.mountpoints.emplace_back()) = std::move(next.value);
      continue;
    }
    switch (next.option) {
      case kJson:
      case kPrometheus:
        if (request.format_given) throw usage_error{"give one of --json and --prometheus"};
        request.format = next.option == kJson ? stats_format::json : stats_format::prometheus;
        request.format_given = true;
        break;
      case kInterval: request.interval = parse_seconds("--interval", next.value, 0.01); break;
      case kCount: {
        std::uint64_t count = 0;
        const auto [end, ec] = std::from_chars(next.value.data(), next.value.data() + next.value.size(), count);
        if (ec != std::errc{} || end != next.value.data() + next.value.size() || count == 0) {
          throw usage_error{fmt::format("--count expects a positive number, got '{}'", next.value)};
        }
        request.count = count;
        break;
      }
      case kTimeout: request.timeout = parse_seconds("--timeout", next.value, 0); break;
      case 'h': request.help = true; return request;
      case 'V': request.version = true; return request;
      default: throw usage_error{"unknown option"};
    }
  }
  if (request.command.empty()) throw usage_error{"expected a command: flush, stats, watch, unmount or compact"};
  const std::string& command = request.command;
  if (command != "flush" && command != "stats" && command != "watch" && command != "unmount" && command != "compact") {
    throw usage_error{fmt::format("unknown command '{}'", command)};
  }
  if (request.format_given && command != "stats") throw usage_error{"--json and --prometheus apply to stats"};
  if ((request.interval || request.count) && command != "watch") {
    throw usage_error{"--interval and --count apply to watch"};
  }
  if (request.timeout && command != "unmount") throw usage_error{"--timeout applies to unmount"};
  if (request.mountpoints.empty()) throw usage_error{fmt::format("{} expects a MOUNTPOINT", command)};
  // An unset variable ("$MNT") must not mean the working directory.
  for (const auto& mountpoint : request.mountpoints) {
    if (mountpoint.empty()) throw usage_error{fmt::format("{} expects a MOUNTPOINT, got an empty one", command)};
  }
  const bool several = command == "stats" && request.format != stats_format::json;
  if (request.mountpoints.size() > 1 && !several) {
    throw usage_error{fmt::format("{} expects one MOUNTPOINT", command == "stats" ? "stats --json" : command)};
  }
  return request;
}

unsigned terminal_width(std::FILE* out) {
  winsize size{};
  const int fd = ::fileno(out);
  if (fd >= 0 && ::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS")) {
    unsigned value = 0;
    const std::string_view text(columns);
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc{} && end == text.data() + text.size() && value >= 20) return value;
  }
  return 80;
}

}  // namespace

int ctl_main(const std::vector<std::string>& args, std::FILE* out, std::FILE* err) {
  return ctl_main(args, out, err, ctl_environment{});
}

int ctl_main(const std::vector<std::string>& args, std::FILE* out, std::FILE* err, const ctl_environment& environment) {
  const auto [help, version] = asks_for_help_or_version(args);
  ctl_request request;
  if (!help && !version) {
    try {
      request = parse(args);
    } catch (const usage_error& e) {
      fmt::print(err, "sevenzfs-ctl: {}\n(see sevenzfs-ctl --help)\n", e.message);
      return kCtlUsage;
    }
  }
  if (help || request.help) {
    fmt::print(out, "{}", kUsage);
    return kCtlOk;
  }
  if (version || request.version) {
    fmt::print(out, "sevenzfs-ctl {}\n", kVersion);
    return kCtlOk;
  }
  ctl_environment system = environment;
  if (!system.open_xattrs) system.open_xattrs = [](const std::string& root) { return path_xattrs(root); };
  const int fd = ::fileno(out);
  const ctl_output io{out, err, system.terminal.value_or(fd >= 0 && ::isatty(fd) == 1),
                      system.width > 0 ? system.width : terminal_width(out)};
  const std::string& path = request.mountpoints.front();
  if (request.command == "flush") return run_flush(system, io, path);
  if (request.command == "stats") return run_stats(system, io, request.mountpoints, request.format);
  if (request.command == "watch") return run_watch(system, io, path, request.interval.value_or(1.0), request.count);
  if (request.command == "unmount") return run_unmount(system, io, path, request.timeout.value_or(60.0));
  return run_compact(system, io, path);
}

}  // namespace sevenzfs::tools
