#include "daemon.hpp"

#include "archive_lock.hpp"
#include "archive_preparation.hpp"
#include "daemon_options.hpp"
#include "filesystem.hpp"
#include "fuse_operations.hpp"
#include "log.hpp"
#include "recovery.hpp"
#include "recovery_removals.hpp"
#include "service_notifier.hpp"
#include "service_status.hpp"
#include "signal_watcher.hpp"

#include "sevenzfs/version.hpp"

#include "archive/archive_error.hpp"
#include "archive/archive_reader.hpp"
#include "archive/file_io.hpp"

#include <fmt/format.h>

#include <spawn.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <system_error>

namespace sevenzfs::fs {

namespace {

struct session_deleter {
  void operator()(fuse_session* session) const { fuse_session_destroy(session); }
};

struct loop_config_deleter {
  void operator()(fuse_loop_config* config) const { fuse_loop_cfg_destroy(config); }
};

using session_ptr = std::unique_ptr<fuse_session, session_deleter>;

// The filesystem type of what is mounted at `path`, if anything is.
std::optional<std::string> mounted_type(const std::string& path) {
  std::ifstream mounts("/proc/self/mounts");
  std::string device, point, type, rest;
  std::optional<std::string> found;
  while (mounts >> device >> point >> type) {
    std::getline(mounts, rest);
    if (point == path) found = type;  // the last one is the one on top
  }
  return found;
}

// Why MOUNTPOINT cannot be used, or "".
std::string mountpoint_problem(const daemon_options& options) {
  struct stat st {};
  if (::stat(options.mountpoint.c_str(), &st) != 0) {
    return errno == ENOENT ? fmt::format("{}: mountpoint does not exist", options.mountpoint)
                           : fmt::format("{}: {}", options.mountpoint, std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return fmt::format("{}: mountpoint is not a directory", options.mountpoint);
  if (mounted_type(options.mountpoint) == "fuse.sevenzfs") {
    return fmt::format("{}: already a sevenzfs mount; unmount it first", options.mountpoint);
  }
  std::error_code error;
  if (!options.nonempty && !std::filesystem::is_empty(options.mountpoint, error)) {
    return fmt::format("{}: mountpoint is not empty (its files would be hidden); use -o nonempty to mount anyway",
                       options.mountpoint);
  }
  return "";
}

// 0, or why no file can be created in `directory`.
int directory_unwritable(const std::string& directory) {
  struct stat st {};
  if (::stat(directory.c_str(), &st) != 0) return errno;
  if (!S_ISDIR(st.st_mode)) return ENOTDIR;  // access() tells root EACCES for a file without an x bit
  return ::access(directory.c_str(), W_OK | X_OK) == 0 ? 0 : errno;
}

// An archive path that exists must be a regular file (or a symlink to
// one): checked before its lock file is made beside it ("/dev/null.lock").
std::string archive_file_problem(const daemon_options& options) {
  struct stat st {};
  if (::stat(options.archive_path.c_str(), &st) != 0) {
    return errno == ENOENT ? "" : fmt::format("{}: {}", options.archive_path, std::strerror(errno));
  }
  try {
    archive::check_regular_file(st, options.archive_path);
  } catch (const archive::archive_error& e) {
    return e.what();
  }
  return "";
}

// The FUSE session with our options and the user's generic ones; null when
// libfuse refuses them (it says why on stderr).
session_ptr make_session(const daemon_options& options, const fuse_lowlevel_ops& operations, fuse_binding* binding) {
  std::string joined;
  for (const auto& item : fuse_mount_items(options, ::geteuid() == 0)) {
    if (!joined.empty()) joined += ',';
    for (const char c : item) {
      if (c == ',' || c == '\\') joined += '\\';  // libfuse's escape inside a -o list
      joined += c;
    }
  }
  std::vector<std::string> fuse_argv_text{"sevenzfs", "-o", joined};
  if (options.debug) fuse_argv_text.emplace_back("-d");
  std::vector<char*> fuse_argv;
  for (auto& arg : fuse_argv_text) fuse_argv.push_back(arg.data());
  fuse_args fuse_arguments = FUSE_ARGS_INIT(static_cast<int>(fuse_argv.size()), fuse_argv.data());
  session_ptr session(fuse_session_new(&fuse_arguments, &operations, sizeof operations, binding));
  fuse_opt_free_args(&fuse_arguments);
  return session;
}

// Detaches the mount, as `fusermount3 -u -z` does: the kernel ends the
// session once nothing uses the mount, and the session loop returns.
result<void> detach_mount(const std::string& mountpoint) {
  if (::geteuid() == 0) {
    if (::umount2(mountpoint.c_str(), MNT_DETACH) == 0) return {};
    return failure(errno, fmt::format("cannot unmount {}: {}", mountpoint, std::strerror(errno)));
  }
  const char* argv[] = {"fusermount3", "-u", "-z", mountpoint.c_str(), nullptr};
  pid_t child = 0;
  if (::posix_spawnp(&child, "fusermount3", nullptr, nullptr, const_cast<char* const*>(argv), environ) != 0) {
    return failure(EIO, fmt::format("cannot run fusermount3 to unmount {}", mountpoint));
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  return failure(EIO, fmt::format("fusermount3 -u -z {} failed", mountpoint));
}

// A file that outgrows the pool while open keeps a spill file open until it
// is compressed, and a snapshot a reader holds keeps its archive open: under
// systemd's default soft limit of 1,024 descriptors, writes would fail long
// before the hard limit (524,288) is near. Nothing here uses select(), which
// is what the low soft limit protects.
void raise_open_file_limit(logger& log) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t was = limit.rlim_cur;
  // An unlimited hard limit still stops at the kernel's fs.nr_open.
  rlim_t most = 1 << 20;
  if (std::ifstream nr_open("/proc/sys/fs/nr_open"); nr_open) nr_open >> most;
  limit.rlim_cur = std::min(limit.rlim_max, most);
  if (limit.rlim_cur <= was) return;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    log.warning("cannot raise the open file limit from {}: {}", was, std::strerror(errno));
    return;
  }
  log.debug("open file limit raised from {} to {}", was, limit.rlim_cur);
}

// Signals that end a process by default but mean nothing to sevenzfs, which
// are easily sent to the wrong process (`pkill -USR1 ...`). SIGUSR1 commits,
// as `sevenzfs-ctl flush` does; the others are logged and ignored.
const std::initializer_list<int> kWatchedSignals = {SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPWR};

void on_watched_signal(int signal, filesystem& fs, bool read_only, logger& log) {
  if (signal != SIGUSR1) {
    log.warning("ignored SIG{} (SIGUSR1 commits; SIGTERM, SIGINT and SIGHUP commit and unmount)", sigabbrev_np(signal));
    return;
  }
  if (read_only) {
    log.info("SIGUSR1: a read-only mount has nothing to commit");
    return;
  }
  log.info("SIGUSR1: committing everything written so far");
  // A failed commit logs its own reason.
  if (fs.commit_everything()) log.info("SIGUSR1: everything written so far is committed");
}

void serve(fuse_session* session) {
  std::unique_ptr<fuse_loop_config, loop_config_deleter> config(fuse_loop_cfg_create());
  fuse_loop_cfg_set_max_threads(config.get(), 16);
  fuse_loop_cfg_set_clone_fd(config.get(), 1);  // a /dev/fuse descriptor per worker: fewer wake-ups
  fuse_session_loop_mt(session, config.get());
}

}  // namespace

int run_daemon(const std::vector<std::string>& args, std::FILE* out, std::FILE* err) {
  const auto parsed = parse_daemon_command_line(args);
  if (parsed.help) {
    fmt::print(out, "{}", kDaemonUsage);
    return kExitOk;
  }
  if (parsed.version) {
    fmt::print(out, "sevenzfs {}\n", kVersion);
    return kExitOk;
  }
  if (!parsed.options) {
    fmt::print(err, "sevenzfs: {}\n(see sevenzfs --help)\n", parsed.error);
    return kExitUsage;
  }
  const daemon_options& options = *parsed.options;
  // Before any thread starts: every thread inherits the mask, and the
  // watcher started below reads these signals.
  const sigset_t watched_signals = signal_watcher::block(kWatchedSignals);
  // Past RLIMIT_FSIZE a write fails with EFBIG, which fails a commit that
  // keeps what is staged; SIGXFSZ would kill the daemon and lose it.
  ::signal(SIGXFSZ, SIG_IGN);
  // libfuse judges the generic options: before anything is locked or read.
  const fuse_lowlevel_ops no_operations{};
  if (!make_session(options, no_operations, nullptr)) {
    fmt::print(err, "sevenzfs: libfuse refused the mount options (see above)\n(see sevenzfs --help)\n");
    return kExitUsage;
  }
  // In the background, lines also go to syslog from the start, and only
  // there once the daemon has left the terminal.
  const logger::sink to_terminal = logger::to_stream(err);
  const logger::sink to_syslog = options.foreground ? logger::sink() : logger::to_syslog();
  logger log(options.foreground ? to_terminal
                                : [&](log_level level, std::string_view line) {
                                    to_terminal(level, line);
                                    to_syslog(level, line);
                                  },
             options.debug ? log_level::debug : log_level::info);
  raise_open_file_limit(log);

  const std::string archive_dir = archive::directory_of(options.archive_path);
  if (const int error = options.read_only ? 0 : directory_unwritable(archive_dir); error != 0) {
    log.error("{}: cannot write the archive's directory: {}{}", archive_dir, std::strerror(error),
              error == EROFS ? " (-o ro mounts it read-only)" : "");
    return kExitArchiveUnusable;
  }
  if (const auto problem = archive_file_problem(options); !problem.empty()) {
    log.error("{}", problem);
    return kExitArchiveUnusable;
  }
  if (const auto problem = read_only_problem(options); !problem.empty()) {
    log.error("{}", problem);
    return kExitArchiveUnusable;
  }
  if (const auto problem = mountpoint_problem(options); !problem.empty()) {
    log.error("{}", problem);
    return kExitMountFailed;
  }

  // Declared before the status, whose thread asks it until the status ends.
  std::unique_ptr<filesystem> fs;
  // As a Type=notify service, what it does while it starts (and that it
  // works: systemd's start timeout is extended meanwhile). A daemon going
  // to the background reports from its child only, once mounted: its
  // thread would not survive the fork.
  service_notifier notifier = service_notifier::from_environment();
  std::optional<service_status> status;
  if (notifier.enabled() && options.foreground) {
    status.emplace(notifier, fmt::format("starting: taking the lock of {}", options.archive_path));
  }
  const auto starting = [&](std::string text) {
    if (status) status->set_text("starting: " + std::move(text));
  };

  // Held until the final commit is done: the archive is ours alone (shared
  // with read-only mounts alone when this one is).
  const auto on_wait = [&](const std::string& holder) {
    log.info("{} is in use by sevenzfs ({}); waiting for it", options.archive_path, holder);
    starting(fmt::format("waiting for {}, in use by sevenzfs ({})", options.archive_path, holder));
  };
  auto lock = [&]() -> result<archive_lock> {
    if (!options.read_only)
      return archive_lock::take(options.archive_path, options.mountpoint, options.wait_lock, on_wait);
    auto shared = archive_lock::take_shared(options.archive_path, options.wait_lock, on_wait);
    if (shared || shared.error().code != ENOLCK) return shared;
    // Reading needs no lock; the lock only keeps writers out, which cannot
    // be done there.
    log.warning(
        "{}: the file system keeps no locks ({}); mounted read-only without a lock, so a writable mount of "
        "the archive would not be refused, and its commits could change what this mount reads",
        options.archive_path, std::strerror(ENOLCK));
    return archive_lock::unheld(options.archive_path);
  }();
  if (!lock) {
    log.error("{}", lock.error().message);
    return kExitArchiveUnusable;
  }
  if (options.read_only) {
    warn_of_uncommitted_recovery(options, log);
  } else if (const int prepared = prepare_archive(options, log, *lock, starting); prepared != kExitOk) {
    return prepared;
  }

  starting(fmt::format("reading {}", options.archive_path));
  try {
    fs = std::make_unique<filesystem>(options, log, &*lock);
  } catch (const archive::archive_error& e) {
    log.error("cannot use the archive, it was left untouched: {}", e.what());
    return kExitArchiveUnusable;
  } catch (const std::exception& e) {
    log.error("cannot start: {}", e.what());
    return kExitArchiveUnusable;
  }

  const fuse_lowlevel_ops operations = make_fuse_operations();
  fuse_binding binding(*fs);
  const session_ptr session = make_session(options, operations, &binding);
  if (!session) {
    log.error("cannot create the FUSE session");
    return kExitMountFailed;
  }
  binding.session = session.get();
  // Attributes only (a negative offset): safe inside the write's request.
  fs->on_privileges_dropped(
      [&binding](inode_number number) { fuse_lowlevel_notify_inval_inode(binding.session, number, -1, 0); });
  if (fuse_set_signal_handlers(session.get()) != 0) {
    log.error("cannot install signal handlers");
    return kExitMountFailed;
  }
  if (fuse_session_mount(session.get(), options.mountpoint.c_str()) != 0) {
    log.error("cannot mount {}", options.mountpoint);
    fuse_remove_signal_handlers(session.get());
    return kExitMountFailed;
  }
  // Only now is the mount usable; the parent of a daemonized process exits here.
  fuse_daemonize(options.foreground ? 1 : 0);
  if (options.read_only) log.info("mounted {} read-only on {}", options.archive_path, options.mountpoint);
  lock->name_holder(options.mountpoint);
  if (!options.foreground) log.set_output(to_syslog);
  if (notifier.enabled() && !status) status.emplace(notifier, "mounted");
  if (status) status->set_source([&] { return fs->status_text(); });
  fs->on_unmount_request([&] {
    if (status) status->stopping();
    return detach_mount(options.mountpoint);
  });
  fs->start_threads();
  std::optional<signal_watcher> watcher;
  try {
    watcher.emplace(watched_signals, [&](int signal) { on_watched_signal(signal, *fs, options.read_only, log); });
  } catch (const std::system_error& e) {
    log.warning("cannot watch for signals ({}); SIGUSR1 will not commit", e.what());
  }
  // A SIGTERM marks the session exited at once; the loop ends later.
  if (status) status->ready([&session] { return fuse_session_exited(session.get()) != 0; });
  serve(session.get());
  watcher.reset();

  // The loop ends on unmount (the mount is gone) or on SIGTERM/SIGINT/SIGHUP
  // (still mounted): commit first, then unmount.
  if (status) status->stopping();
  const result<void> committed = fs->final_commit();
  fuse_session_unmount(session.get());
  fuse_remove_signal_handlers(session.get());
  if (!committed) {
    const bool archived_before = fs->figures().commits.load() > 0 || std::filesystem::exists(options.archive_path);
    log.error("the final commit failed: {}; {}", fs->figures().error(),
              archived_before ? fmt::format("{} holds the last successful commit", options.archive_path)
                              : fmt::format("no archive was written at {}", options.archive_path));
    const result<saved_changes> saved = [&]() -> result<saved_changes> {
      try {
        return fs->save_for_recovery();
      } catch (const std::exception& e) {
        // The last chance to keep anything: said, never a crash.
        return failure(EIO, fmt::format("cannot write the recovery archive: {}", e.what()));
      }
    }();
    if (!saved) {
      log.error("{}", saved.error().message);
    } else if (!saved->path.empty() && saved->not_beside.empty()) {
      log.error(
          "what it would have written ({} files, {} bytes, {} archived paths removed) is kept in {}: the next mount "
          "of {} commits it",
          saved->files, saved->bytes, saved->removals, saved->path, options.archive_path);
    } else if (!saved->path.empty()) {
      log.error(
          "what it would have written ({} files, {} bytes, {} archived paths removed) is kept in {}, as {} cannot "
          "be written ({}): the next mount of {} with recovery_dir={}{} commits it (or move it to {}{})",
          saved->files, saved->bytes, saved->removals, saved->path, recovery_path_of(options.archive_path),
          saved->not_beside, options.archive_path, options.recovery_dir,
          options.recovery_dir == kDefaultRecoveryDir ? " (the default)" : "", recovery_path_of(options.archive_path),
          saved->removals == 0 ? std::string()
                               : fmt::format(", and {} to {}", removals_path_of(saved->path),
                                             removals_path_of(recovery_path_of(options.archive_path))));
    }
    return kExitCommitFailed;
  }
  return kExitOk;
}

}  // namespace sevenzfs::fs
