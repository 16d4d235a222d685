#include "archive_preparation.hpp"

#include "daemon.hpp"
#include "recovery.hpp"

#include "archive/output_file.hpp"

#include <fmt/format.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <vector>

namespace sevenzfs::fs {

std::string read_only_problem(const daemon_options& options) {
  if (!options.read_only) return "";
  struct stat st {};
  if (::stat(options.archive_path.c_str(), &st) != 0) {
    return fmt::format("{}: {}: nothing to mount read-only", options.archive_path, std::strerror(errno));
  }
  if (st.st_size == 0) return fmt::format("{}: the file is empty: nothing to mount read-only", options.archive_path);
  return "";
}

void warn_of_uncommitted_recovery(const daemon_options& options, logger& log) {
  std::vector<std::string> kept;
  if (struct stat st{}; ::stat(recovery_path_of(options.archive_path).c_str(), &st) == 0) {
    kept.push_back(recovery_path_of(options.archive_path));
  }
  // Named as spare_recovery_prefix says; listed only (the writable mount's
  // look at recovery_dir removes temporaries and stale lists).
  const std::string prefix = spare_recovery_prefix(options.archive_path);
  constexpr std::size_t kSpareEnd = std::string_view("XXXXXX.7z").size();
  std::error_code error;
  for (std::filesystem::directory_iterator it(options.recovery_dir, error), end; !error && it != end;
       it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with(prefix) && name.ends_with(".7z") && name.size() == prefix.size() + kSpareEnd) {
      kept.push_back(it->path().string());
    }
  }
  for (const auto& recovery : kept) {
    log.warning(
        "{} holds changes a failed final commit kept: this read-only mount does not show them (a writable "
        "mount of {} commits them)",
        recovery, options.archive_path);
  }
}

int prepare_archive(const daemon_options& options, logger& log, archive_lock& lock,
                    const std::function<void(std::string)>& starting) {
  // spill_file, recovery_save, recovery_removals
  constexpr std::string_view kDaemonTemporaries[] = {".spill", ".recovery.7z", ".recovery.7z.removed"};
  for (const auto& removed : archive::remove_leftovers(options.archive_path, kDaemonTemporaries)) {
    log.info("removed {}, left behind by a sevenzfs that ended without cleaning up (what it held was not committed)",
             removed);
  }
  const auto committing = [&](const std::string& recovery) { starting(fmt::format("committing {}", recovery)); };
  const auto follow = [&] {
    if (auto followed = lock.follow_archive(); !followed) log.warning("{}", followed.error().message);
  };
  if (const auto recovered = commit_recovery_archive(options, log, committing, follow); !recovered) {
    log.error("{}", recovered.error().message);
    return recovered.error().commit_failed ? kExitCommitFailed : kExitArchiveUnusable;
  }
  if (auto followed = lock.follow_archive(); !followed) {
    log.error("{}", followed.error().message);
    return kExitArchiveUnusable;
  }
  return kExitOk;
}

}  // namespace sevenzfs::fs
