#include "daemon.hpp"

#include "daemon_options.hpp"
#include "filesystem.hpp"
#include "fuse_operations.hpp"
#include "log.hpp"

#include "archive/archive_error.hpp"

#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace sevenzfs::fs {

namespace {

struct session_deleter {
  void operator()(fuse_session* session) const { fuse_session_destroy(session); }
};

struct loop_config_deleter {
  void operator()(fuse_loop_config* config) const { fuse_loop_cfg_destroy(config); }
};

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

int run_daemon(const std::vector<std::string>& args, std::FILE* out, std::FILE* err) {
  const auto parsed = parse_daemon_command_line(args);
  if (parsed.help) {
    fmt::print(out, "{}", kDaemonUsage);
    return kExitOk;
  }
  if (!parsed.options) {
    fmt::print(err, "sevenzfs: {}\n(see sevenzfs --help)\n", parsed.error);
    return kExitUsage;
  }
  const daemon_options& options = *parsed.options;

  const std::string archive_dir = directory_of(options.archive_path);
  if (::access(archive_dir.c_str(), W_OK | X_OK) != 0) {
    fmt::print(err, "sevenzfs: {}: cannot write the archive's directory: {}\n", archive_dir, std::strerror(errno));
    return kExitArchiveUnusable;
  }
  struct stat mount_stat {};
  if (::stat(options.mountpoint.c_str(), &mount_stat) != 0 || !S_ISDIR(mount_stat.st_mode)) {
    fmt::print(err, "sevenzfs: {}: mountpoint is not a directory\n", options.mountpoint);
    return kExitMountFailed;
  }

  logger log(logger::to_stream(err), options.debug ? log_level::debug : log_level::info);
  std::unique_ptr<filesystem> fs;
  try {
    fs = std::make_unique<filesystem>(options, log);
  } catch (const archive::archive_error& e) {
    fmt::print(err, "sevenzfs: cannot use the archive, it was left untouched: {}\n", e.what());
    return kExitArchiveUnusable;
  } catch (const std::exception& e) {
    fmt::print(err, "sevenzfs: cannot start: {}\n", e.what());
    return kExitArchiveUnusable;
  }

  std::string mount_options = fmt::format("default_permissions,fsname={},subtype=sevenzfs", options.archive_path);
  if (options.allow_other) mount_options += ",allow_other";
  std::vector<std::string> fuse_argv_text{"sevenzfs", "-o", mount_options};
  if (options.debug) fuse_argv_text.emplace_back("-d");
  std::vector<char*> fuse_argv;
  for (auto& arg : fuse_argv_text) fuse_argv.push_back(arg.data());
  fuse_args fuse_arguments = FUSE_ARGS_INIT(static_cast<int>(fuse_argv.size()), fuse_argv.data());

  const fuse_lowlevel_ops operations = make_fuse_operations();
  std::unique_ptr<fuse_session, session_deleter> session(
      fuse_session_new(&fuse_arguments, &operations, sizeof operations, fs.get()));
  fuse_opt_free_args(&fuse_arguments);
  if (!session) {
    fmt::print(err, "sevenzfs: cannot create the FUSE session\n");
    return kExitMountFailed;
  }
  if (fuse_set_signal_handlers(session.get()) != 0) {
    fmt::print(err, "sevenzfs: cannot install signal handlers\n");
    return kExitMountFailed;
  }
  if (fuse_session_mount(session.get(), options.mountpoint.c_str()) != 0) {
    fmt::print(err, "sevenzfs: cannot mount {}\n", options.mountpoint);
    fuse_remove_signal_handlers(session.get());
    return kExitMountFailed;
  }
  // Only now is the mount usable; the parent of a daemonized process exits here.
  fuse_daemonize(options.foreground ? 1 : 0);
  fs->start_commit_thread();

  std::unique_ptr<fuse_loop_config, loop_config_deleter> config(fuse_loop_cfg_create());
  fuse_loop_cfg_set_max_threads(config.get(), 16);
  fuse_loop_cfg_set_clone_fd(config.get(), 1);  // a /dev/fuse descriptor per worker: fewer wake-ups
  fuse_session_loop_mt(session.get(), config.get());

  // The loop ends on unmount (the mount is gone) or on SIGTERM/SIGINT/SIGHUP
  // (still mounted): commit first, then unmount.
  const result<void> committed = fs->final_commit();
  fuse_session_unmount(session.get());
  fuse_remove_signal_handlers(session.get());
  session.reset();
  if (!committed) {
    log.error("the final commit failed; {} holds the last good commit: {}", options.archive_path,
              fs->figures().error());
    return kExitCommitFailed;
  }
  return kExitOk;
}

}  // namespace sevenzfs::fs
