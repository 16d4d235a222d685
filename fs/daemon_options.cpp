#include "daemon_options.hpp"

#include "archive/size_argument.hpp"
#include "archive/write_settings.hpp"

#include <fmt/format.h>
#include <fuse_opt.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <filesystem>
#include <optional>
#include <set>

namespace sevenzfs::fs {

const char* const kDaemonUsage =
    "usage: sevenzfs [-f] [-d] [-o OPTION[,OPTION...]] ARCHIVE.7z MOUNTPOINT\n"
    "Mounts a writable filesystem whose contents are committed into ARCHIVE.7z\n"
    "(created if missing; appended to if it exists) on fsync, on\n"
    "`sevenzfs-ctl flush MOUNTPOINT` or SIGUSR1, every flush_interval seconds,\n"
    "when the staging pool runs full and compression cannot free it, on\n"
    "SIGTERM/SIGINT/SIGHUP and on unmount. Closed files are compressed in the\n"
    "background (see settle).\n"
    "\n"
    "  -f                       stay in the foreground (log to stderr, not syslog)\n"
    "  -d, -o debug             debug log lines and libfuse's request trace (implies -f)\n"
    "  -V, --version            print the version\n"
    "  -o mode=batched|solid|hybrid   7z folders: one per file, shared, or by size (solid)\n"
    "  -o level=N               0 (store) to 9, as 7-Zip's -mx (5)\n"
    "  -o solid_block=SIZE      bytes per solid folder (128 x dictionary, 2G at level 5)\n"
    "  -o solid_files=N         files per solid folder (no limit)\n"
    "  -o hybrid_threshold=SIZE size from which hybrid mode batches a file (1M)\n"
    "  -o threads=N             compression threads (number of cores)\n"
    "  -o pool_size=SIZE        staging memory, 1M to RAM (an eighth of RAM, 64M-4G)\n"
    "  -o cache_size=SIZE       decoded archive data kept for reads (64M)\n"
    "  -o flush_interval=S      commit every S seconds when something changed (off)\n"
    "  -o settle=S              a closed file is compressed S seconds after its\n"
    "                           close unless reopened for writing first (0.25;\n"
    "                           later while writes go on with writing_threads=0;\n"
    "                           twice as long each time it is written again\n"
    "                           after compression, until a commit, up to 1024x)\n"
    "  -o writing_threads=N     compression threads while writes go on and the\n"
    "                           pool is under half full, leaving the writers a\n"
    "                           core (threads - 1, so 0 with threads=1; all while\n"
    "                           a commit waits); 0: settled files wait until\n"
    "                           the writes pause, at most 30 s (fastest writes)\n"
    "  -o defer_while_writing=0|1\n"
    "                           older spelling: 1 is writing_threads=0, 0 all threads\n"
    "  -o idle_release=S        once at most 1 MiB/s was written for S seconds\n"
    "                           (looked at every S s, the first S s after the\n"
    "                           last close's idle flush) and the compressor is\n"
    "                           idle, its encoders, free staging memory and\n"
    "                           (after a commit) free heap go back to the\n"
    "                           kernel (30; 0: never)\n"
    "  -o compact_at=PERCENT    compact after a commit that leaves more than PERCENT\n"
    "                           of the archive dead (25; 0: only on request)\n"
    "  -o uid=N, -o gid=N       owner of archived entries (7z stores none; default:\n"
    "                           the user running sevenzfs)\n"
    "  -o recovery_dir=DIR      where a failed final commit's recovery archive goes\n"
    "                           when ARCHIVE.recovery.7z cannot be written (the\n"
    "                           next mount commits it from there; yours or root's,\n"
    "                           not writable by others unless sticky; /var/tmp)\n"
    "  -o nonempty              mount over a directory that is not empty\n"
    "  -o wait_lock             wait while another sevenzfs uses ARCHIVE (default: exit 3)\n"
    "  -o kernel_cache          keep file pages cached by the kernel across opens\n"
    "  -o ro                    read-only: ARCHIVE must exist and is never written\n"
    "                           (it may lie on read-only media; other read-only\n"
    "                           mounts of it may run at once, a writable one may not)\n"
    "Generic FUSE options (allow_other, allow_root, auto_unmount, fsname=,\n"
    "max_read=, ...) go to libfuse. Options mount(8) passes (defaults, nofail,\n"
    "_netdev, x-*, ...) are ignored; of ro and rw, the last one counts. SIZE\n"
    "takes K, M, G or T suffixes (powers of 1024). default_permissions is on\n"
    "unless only root can enter (run by root, without allow_other or allow_root).\n"
    "fusermount3 -u returns before the daemon has written the last commit;\n"
    "`sevenzfs-ctl unmount MOUNTPOINT` commits, unmounts and waits.\n"
    "Exit status: 0 all committed; 1 the final commit failed (what it would have\n"
    "written is kept in ARCHIVE.recovery.7z, or in recovery_dir when that cannot\n"
    "be written, and the next mount commits it) or that recovery archive cannot\n"
    "be committed yet; 2 bad command line;\n"
    "3 the archive cannot be used (not 7z, damaged, unreadable, in use by another\n"
    "sevenzfs); 4 mount failed (mountpoint missing, not empty, already mounted).\n";

namespace {

std::optional<std::uint64_t> parse_number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Seconds with up to three decimals ("2", "0.25"), in milliseconds.
std::optional<std::uint64_t> parse_milliseconds(std::string_view text) {
  const auto dot = text.find('.');
  const auto whole = parse_number(text.substr(0, dot));
  if (!whole || *whole > UINT32_MAX) return std::nullopt;
  std::uint64_t ms = *whole * 1000;
  if (dot == std::string_view::npos) return ms;
  const auto fraction = text.substr(dot + 1);
  if (fraction.empty() || fraction.size() > 3 || !parse_number(fraction)) return std::nullopt;
  std::uint64_t scale = 100;
  for (const char digit : fraction) {
    ms += static_cast<std::uint64_t>(digit - '0') * scale;
    scale /= 10;
  }
  return ms;
}

// Options mount(8), mount.fuse3 and fstab pass along that mean nothing here.
bool is_ignored(std::string_view key) {
  static const std::set<std::string_view> ignored{"defaults", "auto",     "noauto",     "user",    "nouser",
                                                  "users",    "_netdev",  "nofail",     "comment", "owner",
                                                  "group",    "lazytime", "nolazytime", "subtype"};
  return ignored.contains(key) || key.starts_with("x-");
}

std::string absolute(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (::getcwd(cwd, sizeof cwd) == nullptr) return path;
  return std::string(cwd) + "/" + path;
}

// The file an archive path names: symlinks to it followed (also one whose
// target does not exist yet: the archive is created there), and its
// directory canonical. Two mounts of one archive must agree on its path, or
// each would take its own lock (ARCHIVE.lock) and the second one's commits
// would drop the first one's files. nullopt: a symlink loop.
std::optional<std::string> archive_file(const std::string& path) {
  namespace stdfs = std::filesystem;
  stdfs::path file = absolute(path);
  for (int hops = 0;; ++hops) {
    std::error_code error;
    if (!stdfs::is_symlink(stdfs::symlink_status(file, error))) break;
    if (hops == 40) return std::nullopt;  // as the kernel's ELOOP
    const stdfs::path target = stdfs::read_symlink(file, error);
    if (error) break;
    file = target.is_absolute() ? target : file.parent_path() / target;
  }
  std::error_code error;
  const stdfs::path directory = stdfs::canonical(file.parent_path(), error);
  // A missing directory fails when the archive is opened (ENOENT, naming this
  // path). Not normalized: "missing/../a.7z" must fail as the kernel fails it.
  return error ? file.string() : (directory / file.filename()).string();
}

// What fuse_opt_parse hands us, one argument or -o item at a time.
struct parse_state {
  daemon_options options;
  archive::write_settings settings;
  std::vector<std::string> positional;
  std::string error;
  bool help = false;
  bool version = false;
};

// Applies one -o item: ours, ignored, or for libfuse. Returns false with
// state.error set when it is wrong.
bool apply_option(parse_state& state, std::string_view item) {
  // `-o ""` (a unit's OPTIONS= left empty) or `-o a,,b` asks for nothing;
  // handed on, libfuse refuses it as an unknown option.
  if (item.empty()) return true;
  const auto equals = item.find('=');
  const std::string_view key = item.substr(0, equals);
  const bool has_value = equals != std::string_view::npos;
  const std::string_view value = has_value ? item.substr(equals + 1) : std::string_view{};
  auto& options = state.options;
  auto bad = [&](std::string_view expected) {
    state.error = fmt::format("option {} expects {}, got '{}'", key, expected, value);
    return false;
  };
  if (const auto outcome = state.settings.set(key, value)) {
    if (!outcome->empty()) state.error = "option " + *outcome;
    return outcome->empty();
  }
  if (key == "pool_size") {
    const auto n = archive::parse_size(value);
    // A pool larger than the machine's memory bounds nothing (and one of
    // 100T cannot even be set up: std::bad_alloc).
    const std::uint64_t memory = physical_memory_bytes();
    if (!n || *n < (1u << 20) || *n > memory) {
      return bad(fmt::format("a size from 1M to this machine's memory ({}M)", memory >> 20));
    }
    options.pool_bytes = *n;
  } else if (key == "cache_size") {
    const auto n = archive::parse_size(value);
    if (!n) return bad("a size such as 64M");
    options.cache_bytes = *n;
  } else if (key == "flush_interval") {
    const auto n = parse_number(value);
    if (!n) return bad("a number of seconds (0: off)");
    options.flush_interval_seconds = *n;
  } else if (key == "settle") {
    const auto ms = parse_milliseconds(value);
    if (!ms || *ms > 3'600'000) return bad("a number of seconds such as 1 or 0.25, at most 3600");
    options.settle = std::chrono::milliseconds(*ms);
  } else if (key == "writing_threads") {
    const auto n = parse_number(value);
    if (!n || *n > 1024) return bad("a number of threads, 0 to 1024");
    options.writing_threads = static_cast<unsigned>(*n);
  } else if (key == "defer_while_writing") {
    if (value != "0" && value != "1") return bad("0 or 1");
    options.writing_threads = value == "1" ? 0u : UINT32_MAX;
  } else if (key == "idle_release") {
    const auto ms = parse_milliseconds(value);
    if (!ms || *ms > 86'400'000) return bad("a number of seconds such as 30 or 0.5, at most 86400 (0: never)");
    options.idle_release = std::chrono::milliseconds(*ms);
  } else if (key == "compact_at") {
    const auto n = parse_number(value);
    if (!n || *n > 100) return bad("a percentage of the archive, 0 to 100 (0: only on request)");
    options.compact_at_percent = static_cast<std::uint32_t>(*n);
  } else if (key == "uid" || key == "gid") {
    const auto n = parse_number(value);
    if (!n || *n >= UINT32_MAX) return bad("a numeric user or group id");
    (key == "uid" ? options.uid : options.gid) = static_cast<std::uint32_t>(*n);
  } else if (key == "recovery_dir") {
    // Checked now: found wanting only when a final commit failed, it would
    // lose what the recovery archive should have kept. And the mount
    // commits what it finds there: others must not be able to replace our
    // files in it (as a sticky directory such as /var/tmp prevents).
    const std::string dir(value);
    struct stat st {};
    if (value.empty() || ::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return bad("an existing directory");
    if (::access(dir.c_str(), W_OK | X_OK) != 0) return bad("a directory this user can write to");
    if ((st.st_uid != 0 && st.st_uid != ::geteuid()) || ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0)) {
      return bad("a directory of this user or root that others cannot write to, or a sticky one such as /var/tmp");
    }
    options.recovery_dir = absolute(dir);
    while (options.recovery_dir.size() > 1 && options.recovery_dir.back() == '/') options.recovery_dir.pop_back();
  } else if (!has_value && key == "nonempty") {
    options.nonempty = true;
  } else if (!has_value && key == "wait_lock") {
    options.wait_lock = true;
  } else if (!has_value && key == "kernel_cache") {
    options.kernel_cache = true;
  } else if (!has_value && key == "debug") {
    options.debug = options.foreground = true;
  } else if (!has_value && (key == "ro" || key == "rw")) {
    options.read_only = key == "ro";  // the last one given counts, as for mount(8)
  } else if (!is_ignored(key)) {
    options.fuse_options.emplace_back(item);  // libfuse's to judge
  }
  return true;
}

int process_argument(void* data, const char* raw, int key, fuse_args*) {
  auto& state = *static_cast<parse_state*>(data);
  const std::string_view arg(raw);
  if (key == FUSE_OPT_KEY_NONOPT) {
    state.positional.emplace_back(arg);
    return 0;
  }
  if (arg == "-h" || arg == "--help") {
    state.help = true;
  } else if (arg == "-V" || arg == "--version") {
    state.version = true;
  } else if (arg == "-f") {
    state.options.foreground = true;
  } else if (arg == "-d") {
    state.options.debug = state.options.foreground = true;
  } else if (arg.starts_with("-")) {
    state.error = fmt::format("unknown argument '{}'", arg);
    return -1;
  } else if (!apply_option(state, arg)) {
    return -1;
  }
  return 0;
}

}  // namespace

std::uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size)
                                    : (1ull << 30);
}

std::uint64_t default_pool_bytes() {
  return std::clamp<std::uint64_t>(physical_memory_bytes() / 8, 64ull << 20, 4ull << 30);
}

std::vector<std::string> fuse_mount_items(const daemon_options& options, bool run_by_root) {
  const auto given = [&](std::string_view name) {
    return std::ranges::any_of(options.fuse_options, [&](const std::string& o) { return o == name; });
  };
  const auto given_prefix = [&](std::string_view prefix) {
    return std::ranges::any_of(options.fuse_options, [&](const std::string& o) { return o.starts_with(prefix); });
  };
  // subtype=sevenzfs always: sevenzfs-ctl and our own checks find mounts by
  // their type, fuse.sevenzfs.
  std::vector<std::string> items{"subtype=sevenzfs"};
  if (!run_by_root || given("allow_other") || given("allow_root")) items.emplace_back("default_permissions");
  if (!given_prefix("fsname=")) items.push_back("fsname=" + options.archive_path);
  if (options.read_only) items.emplace_back("ro");  // the kernel refuses every change with EROFS
  items.insert(items.end(), options.fuse_options.begin(), options.fuse_options.end());
  return items;
}

archive::write_options daemon_write_options(const daemon_options& options) {
  archive::write_options write = options.write;
  const std::uint64_t parts = std::uint64_t{write.compression.threads} + 1;
  write.compression.max_part_bytes =
      std::clamp<std::uint64_t>(options.pool_bytes / 2 / parts, std::uint64_t{1} << 20, std::uint64_t{256} << 20);
  return write;
}

parsed_command_line parse_daemon_command_line(const std::vector<std::string>& args) {
  parsed_command_line result;
  parse_state state;
  state.options.pool_bytes = default_pool_bytes();
  std::vector<std::string> storage{"sevenzfs"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  fuse_args fuse_arguments = FUSE_ARGS_INIT(static_cast<int>(storage.size()), argv.data());
  const int parsed = fuse_opt_parse(&fuse_arguments, &state, nullptr, process_argument);
  fuse_opt_free_args(&fuse_arguments);
  result.help = state.help;
  result.version = state.version;
  if (state.help || state.version) return result;
  if (parsed != 0) {
    result.error = state.error.empty() ? "cannot parse the command line" : state.error;
    return result;
  }
  if (state.positional.size() != 2) {
    result.error = "expected ARCHIVE.7z and MOUNTPOINT";
    return result;
  }
  // Caught here, before anything is created beside the archive (its lock
  // file): a name that cannot be a file, like "" (the working directory),
  // "dir/" or "..".
  const std::string& named = state.positional[0];
  const std::string last = std::filesystem::path(named).filename().string();
  if (named.empty() || named.back() == '/' || last == "." || last == "..") {
    result.error = fmt::format("'{}' names a directory, not an archive file", named);
    return result;
  }
  daemon_options options = std::move(state.options);
  options.write = state.settings.finish();
  const auto archive = archive_file(state.positional[0]);
  if (!archive) {
    result.error = fmt::format("{}: too many levels of symbolic links", state.positional[0]);
    return result;
  }
  options.archive_path = *archive;
  // libfuse changes the working directory to /: every path must be absolute.
  options.mountpoint = absolute(state.positional[1]);
  while (options.mountpoint.size() > 1 && options.mountpoint.back() == '/') options.mountpoint.pop_back();
  result.options = std::move(options);
  return result;
}

}  // namespace sevenzfs::fs
