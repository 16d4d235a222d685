#include "daemon_options.hpp"

#include "archive/lzma_settings.hpp"
#include "archive/size_argument.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <set>
#include <thread>

namespace sevenzfs::fs {

const char* const kDaemonUsage =
    "usage: sevenzfs [-f] [-d] [-o OPTION[,OPTION...]] ARCHIVE.7z MOUNTPOINT\n"
    "Mounts a writable filesystem whose contents are committed into ARCHIVE.7z\n"
    "(created if missing; appended to if it exists) on fsync, on\n"
    "`setfattr -n user.sevenzfs.flush -v 1 MOUNTPOINT`, every flush_interval\n"
    "seconds, when the staging pool runs full, on SIGTERM/SIGINT and on unmount.\n"
    "\n"
    "  -f                       stay in the foreground\n"
    "  -d                       debug output from libfuse (implies -f)\n"
    "  -o mode=batched|solid|hybrid   7z folders: one per file, shared, or by size (solid)\n"
    "  -o level=N               0 (store) to 9, as 7-Zip's -mx (5)\n"
    "  -o solid_block=SIZE      bytes per solid folder (128 x dictionary, 2G at level 5)\n"
    "  -o solid_files=N         files per solid folder (no limit)\n"
    "  -o hybrid_threshold=SIZE size from which hybrid mode batches a file (1M)\n"
    "  -o threads=N             compression threads (number of cores)\n"
    "  -o pool_size=SIZE        staging memory (an eighth of RAM, 64M-4G)\n"
    "  -o flush_interval=S      commit every S seconds when something changed (off)\n"
    "  -o allow_other           let other users use the mount\n"
    "  -o nonempty              mount over a directory that is not empty\n"
    "  -o wait_lock             wait while another sevenzfs uses ARCHIVE (default: exit 3)\n"
    "Options mount(8) passes (rw, defaults, nofail, _netdev, x-*, ...) are ignored.\n"
    "SIZE takes K, M, G or T suffixes (powers of 1024).\n"
    "fusermount3 -u returns before the daemon has written the last commit: wait\n"
    "for its exit (its pid is the xattr user.sevenzfs.pid on the mountpoint).\n"
    "Exit status: 0 all committed; 1 the final commit failed; 2 bad command line;\n"
    "3 the archive cannot be used (not 7z, damaged, unreadable, in use by another\n"
    "sevenzfs); 4 mount failed (mountpoint missing, not empty, already mounted).\n";

namespace {

std::optional<std::uint64_t> parse_number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Options mount(8), mount.fuse3 and fstab pass along that mean nothing here.
bool is_pass_through(std::string_view key) {
  static const std::set<std::string_view> ignored{"rw",         "defaults",
                                                  "auto",       "noauto",
                                                  "user",       "nouser",
                                                  "users",      "_netdev",
                                                  "nofail",     "suid",
                                                  "nosuid",     "dev",
                                                  "nodev",      "exec",
                                                  "noexec",     "atime",
                                                  "noatime",    "relatime",
                                                  "nodiratime", "async",
                                                  "sync",       "default_permissions",
                                                  "comment",    "owner",
                                                  "group",      "lazytime",
                                                  "nolazytime"};
  return ignored.contains(key) || key.starts_with("x-");
}

std::string absolute(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (::getcwd(cwd, sizeof cwd) == nullptr) return path;
  return std::string(cwd) + "/" + path;
}

// Applies one `key[=value]`; returns an error message or "".
std::string apply_option(daemon_options& options, std::string_view item, std::optional<std::uint64_t>& solid_block) {
  const auto equals = item.find('=');
  const std::string_view key = item.substr(0, equals);
  const std::string_view value = equals == std::string_view::npos ? std::string_view{} : item.substr(equals + 1);
  const bool has_value = equals != std::string_view::npos;
  auto& plan = options.write.plan;
  auto& compression = options.write.compression;
  auto bad = [&](std::string_view expected) {
    return fmt::format("option {} expects {}, got '{}'", key, expected, value);
  };
  if (key == "mode") {
    const auto mode = archive::parse_pack_mode(value);
    if (!mode) return bad("batched, solid or hybrid");
    plan.mode = *mode;
  } else if (key == "level") {
    const auto n = parse_number(value);
    if (!n || *n > archive::kMaxLevel) return bad("a level from 0 to 9");
    compression.level = static_cast<int>(*n);
  } else if (key == "solid_block") {
    const auto n = archive::parse_size(value);
    if (!n || *n == 0) return bad("a size such as 64M");
    solid_block = *n;
  } else if (key == "solid_files") {
    const auto n = parse_number(value);
    if (!n || *n == 0) return bad("a positive number");
    plan.solid_block_files = *n;
  } else if (key == "hybrid_threshold") {
    const auto n = archive::parse_size(value);
    if (!n || *n == 0) return bad("a size such as 1M");
    plan.hybrid_threshold = *n;
  } else if (key == "threads") {
    const auto n = parse_number(value);
    if (!n || *n == 0 || *n > 256) return bad("a number from 1 to 256");
    compression.threads = static_cast<unsigned>(*n);
  } else if (key == "pool_size") {
    const auto n = archive::parse_size(value);
    if (!n || *n < (1u << 20)) return bad("a size of at least 1M");
    options.pool_bytes = *n;
  } else if (key == "flush_interval") {
    const auto n = parse_number(value);
    if (!n) return bad("a number of seconds (0: off)");
    options.flush_interval_seconds = *n;
  } else if (key == "allow_other" && !has_value) {
    options.allow_other = true;
  } else if (key == "nonempty" && !has_value) {
    options.nonempty = true;
  } else if (key == "wait_lock" && !has_value) {
    options.wait_lock = true;
  } else if (key == "ro") {
    return "option ro is not supported: sevenzfs mounts are writable";
  } else if (!is_pass_through(key)) {
    return fmt::format("unknown mount option '{}'", item);
  }
  return "";
}

}  // namespace

std::uint64_t default_pool_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  const std::uint64_t memory = pages > 0 && page_size > 0
                                   ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size)
                                   : (1ull << 30);
  return std::clamp<std::uint64_t>(memory / 8, 64ull << 20, 4ull << 30);
}

parsed_command_line parse_daemon_command_line(const std::vector<std::string>& args) {
  parsed_command_line result;
  daemon_options options;
  options.write.compression.threads = std::max(1u, std::thread::hardware_concurrency());
  options.pool_bytes = default_pool_bytes();
  std::optional<std::uint64_t> solid_block;
  std::vector<std::string> positional;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      result.help = true;
      return result;
    }
    if (arg == "-f") {
      options.foreground = true;
    } else if (arg == "-d") {
      options.debug = options.foreground = true;
    } else if (arg == "-o" || (arg.starts_with("-o") && arg.size() > 2)) {
      std::string list;
      if (arg == "-o") {
        if (i + 1 >= args.size()) {
          result.error = "-o needs a list of options";
          return result;
        }
        list = args[++i];
      } else {
        list = arg.substr(2);
      }
      std::size_t start = 0;
      while (start <= list.size()) {
        const auto comma = std::min(list.find(',', start), list.size());
        const std::string_view item(list.data() + start, comma - start);
        if (!item.empty()) {
          if (auto error = apply_option(options, item, solid_block); !error.empty()) {
            result.error = error;
            return result;
          }
        }
        start = comma + 1;
      }
    } else if (arg.starts_with("-") && arg.size() > 1) {
      result.error = fmt::format("unknown argument '{}'", arg);
      return result;
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2) {
    result.error = "expected ARCHIVE.7z and MOUNTPOINT";
    return result;
  }
  options.archive_path = absolute(positional[0]);
  // libfuse changes the working directory to /: every path must be absolute.
  options.mountpoint = absolute(positional[1]);
  while (options.mountpoint.size() > 1 && options.mountpoint.back() == '/') options.mountpoint.pop_back();
  options.write.plan.solid_block_bytes =
      solid_block.value_or(archive::default_solid_block_bytes(options.write.compression.level));
  result.options = std::move(options);
  return result;
}

}  // namespace sevenzfs::fs
