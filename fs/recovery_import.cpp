// Committing a recovery archive at mount (recovery.hpp).
#include "recovery.hpp"

#include "daemon_options.hpp"
#include "recovery_merge.hpp"
#include "recovery_removals.hpp"

#include "archive/archive_appender.hpp"
#include "archive/archive_error.hpp"
#include "archive/file_io.hpp"

#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace sevenzfs::fs {

namespace {

// Removals whose recovery archive is gone (recovery_removals.hpp): left by
// an interrupted save or mount, never read.
void remove_stale_removals(const std::string& recovery, logger& log) {
  try {
    if (remove_removals(recovery)) {
      log.info("removed {}, left without its recovery archive by an interrupted save or mount",
               removals_path_of(recovery));
    }
  } catch (const archive::archive_error& e) {
    log.warning("{}", e.what());
  }
}

std::unexpected<recovery_failure> unreadable(std::string message) {
  return std::unexpected(recovery_failure{false, std::move(message)});
}

// Commits the recovery archive at `path` (lstat: `st`) into the archive, then removes it.
std::expected<void, recovery_failure> commit_one(const std::string& path, const struct stat& st,
                                                 const daemon_options& options, logger& log) {
  if (!S_ISREG(st.st_mode)) {
    return unreadable(
        fmt::format("{} is not a regular file; it should hold the files of a failed commit of {}: "
                    "move it away to mount",
                    path, options.archive_path));
  }
  if (st.st_size == 0) {
    // A save that ended before its archive was renamed into place: it wrote
    // nothing here, and the log of that daemon says what was lost.
    ::unlink(path.c_str());
    log.info("removed {}, an empty recovery archive left by an interrupted save", path);
    remove_stale_removals(path, log);
    return {};
  }
  const auto listed = read_removals(path);
  if (!listed) {
    return unreadable(fmt::format(
        "cannot read the paths the recovery archive {} removes: {}; both files are left untouched: to mount, move "
        "{} away (the paths it lists then stay in {})",
        path, listed.error().message, removals_path_of(path), options.archive_path));
  }
  if (!listed->passed_over.empty()) {
    log.warning("{}: passed over, not a list of removed paths of ours; {} is committed without removals",
                listed->passed_over, path);
  }
  const std::unordered_set<std::string> removed =
      listed->paths ? std::unordered_set<std::string>(listed->paths->begin(), listed->paths->end())
                    : std::unordered_set<std::string>();
  log.info("{} holds the files of a failed commit; committing them into {}", path, options.archive_path);

  archive::cached_reader reader({.cache_bytes = 16 << 20, .block_size = 1 << 20, .decoders = {}});
  std::shared_ptr<const archive::archive_snapshot> snapshot;
  recovered recovery;
  try {
    snapshot = archive::archive_snapshot::open(path);
    // The file opened must be the one checked (replaced in between: not ours to commit).
    struct stat held {};
    if (::fstat(snapshot->fd(), &held) != 0 || held.st_dev != st.st_dev || held.st_ino != st.st_ino) {
      return unreadable(fmt::format("{} was replaced while it was opened: left alone; mount again", path));
    }
    recovery = read_recovery(snapshot, reader);
  } catch (const archive::archive_error& e) {
    if (e.error_number() == ENOENT && ::access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
      log.warning("{} went away before it could be committed (removed by someone else)", path);
      return {};
    }
    return unreadable(fmt::format(
        "cannot read the recovery archive, both files are left untouched: {}; to mount, move {} away (7zz x may "
        "still extract what it holds)",
        e.what(), path));
  }
  std::uint64_t files = recovery.with_data.size();
  std::uint64_t bytes = 0;
  for (const auto& e : recovery.with_data) bytes += e.size;
  const std::uint64_t compressed_again = bytes;
  for (const auto& copied : recovery.copied) {
    for (const auto& e : copied.files) {
      files += e ? 1 : 0;
      bytes += e ? e->size : 0;
    }
  }
  struct stat archive_st {};
  const std::uint64_t archive_bytes =
      ::stat(options.archive_path.c_str(), &archive_st) == 0 ? static_cast<std::uint64_t>(archive_st.st_size) : 0;
  try {
    verify_copied(*snapshot, recovery.copied);
    archive::archive_appender archive(options.archive_path, daemon_write_options(options));
    archive.commit(merged_request(archive, recovery, removed, *snapshot));
  } catch (const archive::archive_error& e) {
    // An I/O failure (a full disk) passes; damage in either file does not.
    const bool io = e.kind() == archive::error_kind::io;
    give_back_dead_space(options, log);  // what the failed commit wrote: the archive is as it was
    return std::unexpected(recovery_failure{
        io, fmt::format("cannot commit the recovery archive {} into {}: {}; both files are left as they were{}", path,
                        options.archive_path, e.what(),
                        io ? fmt::format(": free space (the commit may write the archive anew: up to {} bytes) and "
                                         "mount again",
                                         archive_bytes + st.st_size)
                           : "")});
  }
  // Committed: the recovery archive must go now, or the next mount would
  // apply it again over later changes.
  if (::unlink(path.c_str()) != 0) {
    return unreadable(fmt::format("committed {} into {}, but cannot remove it: {}; remove it by hand before mounting",
                                  path, options.archive_path, std::strerror(errno)));
  }
  try {
    archive::sync_directory_of(path);
  } catch (const archive::archive_error& e) {
    log.warning("{}", e.what());
  }
  if (listed->paths) {
    try {
      remove_removals(path);
    } catch (const archive::archive_error& e) {
      // Without its recovery archive it is never read again (the next mount removes it).
      log.warning("{}", e.what());
    }
  }
  log.info(
      "committed {} files ({} bytes) of the recovery archive into {} ({} folders copied as they were, {} bytes "
      "compressed again), less the {} paths it lists as removed; removed {}",
      files, bytes, options.archive_path, recovery.copied.size(), compressed_again, removed.size(), path);
  return {};
}

struct found_recovery {
  std::string path;
  struct stat st {};
};

// The archive's recovery archives in recovery_dir that are ours: a regular
// file of this user, mode 0600 and of one link, as the save makes it (in a
// shared directory another user may create files, or hard-link ours, under
// a name they can predict). A directory that cannot be listed refuses the
// mount: a recovery archive passed over now would be committed by a later
// mount, over newer changes.
std::expected<std::vector<found_recovery>, recovery_failure> spare_recoveries(const daemon_options& options,
                                                                              const std::string& dir, logger& log) {
  const std::string prefix = spare_recovery_prefix(options.archive_path);
  constexpr std::string_view kEnd = "XXXXXX.7z";
  // What a save that ended midway left: the temporaries its archive and its
  // removals were written in (NAME.tmp-XXXXXX).
  constexpr std::string_view kTemporaryEnds[] = {"XXXXXX.7z.tmp-XXXXXX", "XXXXXX.7z.removed.tmp-XXXXXX"};
  constexpr std::string_view kRemovalsEnd = "XXXXXX.7z.removed";
  std::vector<found_recovery> found;
  std::vector<std::string> removals;
  std::error_code error;
  for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with(prefix)) continue;
    const std::string_view after = std::string_view(name).substr(prefix.size());
    const bool temporary = std::ranges::any_of(kTemporaryEnds, [&](std::string_view pattern) {
      return after.size() == pattern.size() &&
             after.substr(6, pattern.size() - 12) == pattern.substr(6, pattern.size() - 12);
    });
    if (temporary) {
      struct stat st {};
      if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() &&
          ::unlink(it->path().c_str()) == 0) {
        log.info("removed {}, left behind by a recovery save that did not end", it->path().string());
      }
      continue;
    }
    if (after.size() == kRemovalsEnd.size() && after.ends_with(".7z.removed")) {
      removals.push_back(it->path().string());
      continue;
    }
    if (name.size() != prefix.size() + kEnd.size() || !name.ends_with(".7z")) continue;
    found_recovery spare{it->path().string()};
    if (::lstat(spare.path.c_str(), &spare.st) != 0) continue;  // gone meanwhile
    if (!S_ISREG(spare.st.st_mode) || spare.st.st_uid != ::geteuid() || spare.st.st_nlink != 1 ||
        (spare.st.st_mode & 077) != 0) {
      // Quoted: the name's last characters are anybody's.
      log.warning(
          "{:?} is named as a recovery archive of {} but is not one this user's daemon wrote (a private "
          "file of one link): left alone",
          spare.path, options.archive_path);
      continue;
    }
    found.push_back(std::move(spare));
  }
  if (error && error != std::errc::no_such_file_or_directory) {
    return unreadable(fmt::format("cannot look for recovery archives of {} in {} (recovery_dir): {}",
                                  options.archive_path, dir, error.message()));
  }
  for (const auto& path : removals) {
    const std::string recovery = path.substr(0, path.size() - std::string_view(".removed").size());
    struct stat st {};
    if (::lstat(recovery.c_str(), &st) != 0 && errno == ENOENT) remove_stale_removals(recovery, log);
  }
  return found;
}

}  // namespace

std::expected<void, recovery_failure> commit_recovery_archive(const daemon_options& options, logger& log,
                                                              const std::function<void(const std::string&)>& committing,
                                                              const std::function<void()>& committed) {
  auto spares = spare_recoveries(options, options.recovery_dir, log);
  if (!spares) return std::unexpected(std::move(spares.error()));
  std::vector<found_recovery> found = std::move(*spares);
  // A recovery archive is written after its failed commit: one in
  // recovery_dir older than the archive was passed over by a mount that
  // committed since (another recovery_dir, another user), and would undo
  // those changes. Only the user can tell (the one beside the archive is
  // never passed over).
  struct stat archive {};
  if (::stat(options.archive_path.c_str(), &archive) == 0) {
    for (const auto& spare : found) {
      if (spare.st.st_size == 0 || std::pair(spare.st.st_mtim.tv_sec, spare.st.st_mtim.tv_nsec) >=
                                       std::pair(archive.st_mtim.tv_sec, archive.st_mtim.tv_nsec)) {
        continue;  // empty: it holds nothing to undo anything with (it is removed)
      }
      return unreadable(fmt::format(
          "{} holds what a failed final commit of {} kept, but {} changed after it was written: committed now, it "
          "could undo those changes. To commit it anyway, move it to {} (and {}, if there is one, to {}) and "
          "mount again; to drop it, remove it (and that list)",
          spare.path, options.archive_path, options.archive_path, recovery_path_of(options.archive_path),
          removals_path_of(spare.path), removals_path_of(recovery_path_of(options.archive_path))));
    }
  }
  found_recovery beside{recovery_path_of(options.archive_path)};
  if (::lstat(beside.path.c_str(), &beside.st) == 0) {
    found.push_back(std::move(beside));
  } else if (errno != ENOENT) {
    return unreadable(fmt::format("{}: {}", beside.path, std::strerror(errno)));
  } else {
    remove_stale_removals(beside.path, log);
  }
  // Oldest first: a later one holds later versions of its paths.
  std::sort(found.begin(), found.end(), [](const found_recovery& a, const found_recovery& b) {
    return std::pair(a.st.st_mtim.tv_sec, a.st.st_mtim.tv_nsec) < std::pair(b.st.st_mtim.tv_sec, b.st.st_mtim.tv_nsec);
  });
  // Kept by a daemon with the default recovery_dir: this mount would pass
  // it over, and anything it commits would make it stale (above). The
  // user decides where it goes.
  if (const std::string usual = std::string(kDefaultRecoveryDir); options.recovery_dir != usual) {
    if (const auto elsewhere = spare_recoveries(options, usual, log)) {
      for (const auto& spare : *elsewhere) {
        if (spare.st.st_size == 0) continue;
        return unreadable(fmt::format(
            "{} holds what a failed final commit of {} kept with recovery_dir={} (the default), but this mount's "
            "is {}: to commit it, mount with recovery_dir={} or move it to {} (and {}, if there is one, to {}); "
            "to drop it, remove it (and that list)",
            spare.path, options.archive_path, usual, options.recovery_dir, usual,
            recovery_path_of(options.archive_path), removals_path_of(spare.path),
            removals_path_of(recovery_path_of(options.archive_path))));
      }
    }
  }
  for (const auto& recovery : found) {
    if (recovery.st.st_size > 0) committing(recovery.path);
    if (auto done = commit_one(recovery.path, recovery.st, options, log); !done) return done;
    committed();
  }
  return {};
}

}  // namespace sevenzfs::fs
