// Writing the recovery archive after a failed final commit (recovery.hpp).
#include "recovery.hpp"

#include "daemon_options.hpp"
#include "recovery_changes.hpp"
#include "recovery_removals.hpp"

#include "archive/archive_appender.hpp"
#include "archive/archive_error.hpp"
#include "archive/crc32.hpp"
#include "archive/file_io.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <vector>

namespace sevenzfs::fs {

std::string recovery_path_of(const std::string& archive_path) { return archive_path + ".recovery.7z"; }

std::string spare_recovery_prefix(const std::string& archive_path) {
  // Each character of the path as systemd-escape --path writes it.
  std::vector<std::string> pieces;
  for (std::size_t k = archive_path.starts_with('/') ? 1 : 0; k < archive_path.size(); ++k) {
    const auto c = static_cast<unsigned char>(archive_path[k]);
    if (c == '/') {
      pieces.emplace_back("-");
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' || c == '_' ||
               (c == '.' && !pieces.empty())) {
      pieces.emplace_back(1, static_cast<char>(c));
    } else {
      pieces.push_back(fmt::format("\\x{:02x}", c));
    }
  }
  std::string escaped;
  for (const auto& piece : pieces) escaped += piece;
  // A name must fit NAME_MAX (255) with "sevenzfs-", ".recovery-" and
  // "XXXXXX.7z": a long path keeps its end (whole escapes), after a CRC of
  // the whole one.
  constexpr std::size_t kKept = 200;
  if (escaped.size() > kKept) {
    std::string tail;
    for (auto it = pieces.rbegin(); it != pieces.rend() && tail.size() + it->size() <= kKept; ++it) {
      tail.insert(0, *it);
    }
    const auto crc =
        archive::crc32::of(std::span(reinterpret_cast<const std::uint8_t*>(archive_path.data()), archive_path.size()));
    escaped = fmt::format("{:08x}-{}", crc, tail);
  }
  return "sevenzfs-" + escaped + ".recovery-";
}

namespace {

// Makes `path` a file of ours with mode 0600 for create_archive to replace:
// what it replaces gives the new file its mode, so the recovery archive is
// never readable by others, whatever the umask. Returns whether it made one.
bool prepare_private_target(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) archive::throw_io_error(path, "cannot stat the recovery archive", errno);
    archive::unique_fd made(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!made || ::fchmod(made.get(), 0600) != 0) {
      archive::throw_io_error(path, "cannot create the recovery archive", errno);
    }
    return true;
  }
  // Left by a save this daemon's mount did not get to commit (see
  // commit_recovery_archive); anything else is not ours to replace.
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || st.st_nlink != 1) {
    throw archive::archive_error(
        archive::error_kind::io, path,
        fmt::format("{} exists and is not a recovery archive of this user; move it away", path), EEXIST);
  }
  if (::chmod(path.c_str(), 0600) != 0)
    archive::throw_io_error(path, "cannot make the recovery archive private", errno);
  return false;
}

// Writes a new archive over `path`, a file of ours (made: made for it, and
// removed when the write fails).
void write_over(const std::string& path, bool made, const std::vector<archive::entry>& without_data,
                const std::vector<archive::entry>& with_data, const archive::write_options& options) {
  try {
    archive::create_archive(path, without_data, with_data, options);
  } catch (...) {
    if (!made) throw;
    // Our empty placeholder, unless the finished archive was renamed over
    // it before the failure (its directory's fsync): then it is complete,
    // and removing it would lose what it holds.
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && st.st_size > 0) return;
    ::unlink(path.c_str());
    throw;
  }
}

struct written_recovery {
  std::string path;
  std::string not_beside;  // why it is not beside the archive; empty: it is
};

// The recovery archive at `path` (made: an empty placeholder made for it)
// and its removals, these first (recovery_removals.hpp). When the archive
// cannot be written, the removals go too, and so does a placeholder.
void write_pair(const std::string& path, bool made, const std::vector<std::string>& removals,
                const std::vector<archive::entry>& without_data, const std::vector<archive::entry>& with_data,
                const archive::write_options& options) {
  try {
    if (removals.empty()) {
      remove_removals(path);  // a stale list must not pair with this archive
    } else {
      write_removals(path, removals);
    }
  } catch (...) {
    if (made) ::unlink(path.c_str());
    throw;
  }
  try {
    write_over(path, made, without_data, with_data, options);
  } catch (...) {
    try {
      remove_removals(path);
    } catch (const archive::archive_error&) {
      // Left without its archive: the next mount removes it unread.
    }
    throw;
  }
}

// Beside the archive, or else (its disk is full, as it likely is when the
// commit failed) as a new file, mode 0600, in recovery_dir.
written_recovery write_recovery(const daemon_options& options, const std::vector<std::string>& removals,
                                const std::vector<archive::entry>& without_data,
                                const std::vector<archive::entry>& with_data, const archive::write_options& write) {
  const std::string beside = recovery_path_of(options.archive_path);
  std::string why;
  try {
    write_pair(beside, prepare_private_target(beside), removals, without_data, with_data, write);
    return {beside, ""};
  } catch (const archive::archive_error& e) {
    // Only what writing there failed of: an input that cannot be read
    // fails anywhere, and the caller tries again with less.
    if (e.kind() != archive::error_kind::io) throw;
    why = e.what();
  }
  // The name of a spare's removals is predictable once the spare exists:
  // another user may take it first (write_removals: EEXIST), so a few names.
  constexpr int kSpareNames = 4;
  for (int attempt = 1;; ++attempt) {
    std::string spare = options.recovery_dir + "/" + spare_recovery_prefix(options.archive_path) + "XXXXXX.7z";
    try {
      const archive::unique_fd made(::mkstemps(spare.data(), 3));
      if (!made) archive::throw_io_error(spare, "cannot create the recovery archive", errno);
      write_pair(spare, true, removals, without_data, with_data, write);
      return {spare, why};
    } catch (const archive::archive_error& e) {
      if (e.error_number() == EEXIST && attempt < kSpareNames) continue;
      throw std::runtime_error(fmt::format("{}; nor in {}: {}", why, options.recovery_dir, e.what()));
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("{}; nor in {}: {}", why, options.recovery_dir, e.what()));
    }
  }
}

// The first ten paths, and how many more there are.
template <typename Item, typename Projection = std::identity>
std::string paths_of(const std::vector<Item>& items, Projection path_of = {}) {
  constexpr std::size_t kNamed = 10;
  std::string named;
  for (std::size_t k = 0; k < items.size() && k < kNamed; ++k) {
    named += k == 0 ? "" : ", ";
    named += std::invoke(path_of, items[k]);
  }
  if (items.size() > kNamed) named += fmt::format(" and {} more", items.size() - kNamed);
  return named;
}

}  // namespace

// Before the recovery archive needs the space, and after a recovery
// archive failed to go in at mount.
void give_back_dead_space(const daemon_options& options, logger& log) {
  try {
    archive::archive_appender archive(options.archive_path, options.write);
    if (!archive.has_dead_space()) return;
    const std::uint64_t dead = archive.dead_bytes();
    archive.tidy();
    log.info("{}: gave back {} bytes the failed commit left in it", options.archive_path, dead);
  } catch (const std::exception& e) {
    log.debug("{}: cannot give back the space of the failed commit: {}", options.archive_path, e.what());
  }
}

result<saved_changes> save_uncommitted(inode_table& inodes, const content_services& content,
                                       const std::shared_ptr<const archive::archive_snapshot>& archived,
                                       const daemon_options& options, logger& log) {
  const std::string path = recovery_path_of(options.archive_path);
  const uncommitted found = collect_uncommitted(inodes, content, archived);
  // Removals alone are saved too (beside an empty recovery archive): a
  // service that removed its old logs must not find them again.
  if (found.changed.empty() && found.appended.empty() && found.copied.empty() && found.without_data.empty() &&
      found.removed.empty()) {
    return saved_changes{};
  }
  give_back_dead_space(options, log);
  const archive::write_options write = daemon_write_options(options);

  // What must be read back from the archive may fail to (a method not
  // decoded here, damage). After the first attempt fails, each archived file
  // renamed or re-timed and each appended to is read once: the next attempt
  // leaves out only those that cannot be read (one damaged file does not
  // cost the others their new names, nor a duplicate name the mount showed
  // elsewhere its content). Should that fail too, the attempts leave out
  // all such files that were renamed or re-timed, all appended to, or both.
  const auto joined = [](std::initializer_list<const std::vector<archive::entry>*> parts) {
    std::vector<archive::entry> all;
    for (const auto* part : parts) all.insert(all.end(), part->begin(), part->end());
    return all;
  };
  const auto chosen = [](const std::vector<archive::entry>& entries, const std::vector<bool>& with) {
    std::vector<archive::entry> kept;
    for (std::size_t k = 0; k < entries.size(); ++k) {
      if (with[k]) kept.push_back(entries[k]);
    }
    return kept;
  };
  const auto readable = [](const std::vector<archive::entry>& entries) {
    std::vector<bool> can(entries.size(), true);
    for (std::size_t k = 0; k < entries.size(); ++k) {
      try {
        entries[k].content->visit([](std::span<const std::uint8_t>) {});
      } catch (const std::exception&) {
        can[k] = false;
      }
    }
    return can;
  };
  struct attempt {
    std::vector<bool> copied;
    std::vector<bool> appended;
    bool same_as(const attempt& other) const {
      return std::ranges::equal(copied, other.copied) && std::ranges::equal(appended, other.appended);
    }
  };
  const std::size_t copies = found.copied.size();
  const std::size_t appends = found.appended.size();
  std::vector<attempt> attempts{{std::vector<bool>(copies, true), std::vector<bool>(appends, true)}};
  std::string why;
  for (std::size_t k = 0; k < attempts.size(); ++k) {
    const auto& [with_copied, with_appended] = attempts[k];
    const auto appended = chosen(found.appended, with_appended);
    const auto copied = chosen(found.copied, with_copied);
    const auto with_data = joined({&found.changed, &appended, &copied});
    try {
      const auto removals = removals_of(found, with_copied, with_appended);
      const written_recovery written = write_recovery(options, removals, found.without_data, with_data, write);
      saved_changes saved{written.path,   written.not_beside, with_data.size(), bytes_of(with_data), 0, 0,
                          removals.size()};
      const auto left_out = [](const std::vector<archive::entry>& entries, const std::vector<bool>& with) {
        std::vector<archive::entry> out;
        for (std::size_t e = 0; e < entries.size(); ++e) {
          if (!with[e]) out.push_back(entries[e]);
        }
        return out;
      };
      if (const auto renamed = left_out(found.copied, with_copied); !renamed.empty()) {
        saved.left_out = renamed.size();
        log.warning("lost: the new names, modes or times of {} archived files (they keep the old ones): {}",
                    renamed.size(), paths_of(renamed, &archive::entry::path));
      }
      if (const auto lost_appends = left_out(found.appended, with_appended); !lost_appends.empty()) {
        saved.appends_lost = lost_appends.size();
        log.warning(
            "lost: what was appended to {} archived files whose archived start cannot be read back "
            "(they keep their archived bytes): {}",
            lost_appends.size(), paths_of(lost_appends, &archive::entry::path));
      }
      return saved;
    } catch (const std::exception& e) {
      why = e.what();
      if (k == 0 && copies + appends > 0) {
        const std::vector<bool> all_copies(copies, true), no_copies(copies, false);
        const std::vector<bool> all_appends(appends, true), no_appends(appends, false);
        for (attempt next : {attempt{readable(found.copied), readable(found.appended)}, attempt{no_copies, all_appends},
                             attempt{all_copies, no_appends}, attempt{no_copies, no_appends}}) {
          if (std::ranges::none_of(attempts, [&](const attempt& a) { return a.same_as(next); })) {
            attempts.push_back(std::move(next));
          }
        }
      }
      if (k + 1 < attempts.size()) {
        log.warning("cannot write the recovery archive {} with all it should hold: {}; trying with less", path, why);
      }
    }
  }
  const std::vector<archive::entry> lost = joined({&found.changed, &found.appended});
  const std::string renamed =
      found.copied.empty()
          ? std::string()
          : fmt::format("; and the new names, modes or times of {} archived files", found.copied.size());
  const std::string removed =
      found.removed.empty()
          ? std::string()
          : fmt::format("; and the removal of {} archived paths (they stay in {}): {}", found.removed.size(),
                        options.archive_path, paths_of(found.removed, &uncommitted::removed_path::path));
  return failure(EIO, fmt::format("cannot write the recovery archive {}: {}; lost: {} files ({} bytes) changed "
                                  "since the last commit: {}{}{}",
                                  path, why, lost.size(), bytes_of(lost), paths_of(lost, &archive::entry::path),
                                  renamed, removed));
}

}  // namespace sevenzfs::fs
