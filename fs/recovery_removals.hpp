#pragma once
// The removals a recovery archive cannot hold. 7z's anti-items would say
// "remove this path", but bsdtar ("Damaged 7-Zip archive") and py7zr
// ("invalid type") refuse an archive that has any, and no other part of a
// 7z header carries data that all three readers pass over (7-Zip checks
// that kDummy's bytes are zeros; bsdtar refuses archive properties). So the
// archived paths a session removed or renamed away go into a file of their
// own beside the recovery archive: RECOVERY.removed, mode 0600, the line
// kRemovalsHeading and then each path followed by a NUL byte.
//
// The pair is kept in step by order alone: a save writes (or removes) the
// removals before it renames its recovery archive into place, and a mount
// removes them after the recovery archive it committed. So removals without
// their recovery archive are left by an interrupted save or mount and are
// removed unread, and a recovery archive in place has its own removals or
// none. Whoever moves a recovery archive moves its removals along (the
// messages that suggest a move say so).
//
// In a shared recovery_dir (/var/tmp, sticky) the name of a spare's
// removals is predictable once the spare exists: the save creates them with
// O_EXCL (a name taken by someone else fails that save, which tries another
// name), and a mount passes over a file of another user there (logged): it
// cannot be ours, and a sticky directory would not let us remove it.
#include "result.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sevenzfs::fs {

inline constexpr std::string_view kRemovalsHeading =
    "sevenzfs: archived paths removed since the last commit, each followed by a NUL byte\n";

// RECOVERY.removed for the recovery archive `recovery`.
std::string removals_path_of(const std::string& recovery);

// Writes `paths` as the removals of `recovery`: a stale file of this user
// there is removed, then a new one is created (O_EXCL, mode 0600), written
// and fsynced, then its directory. Throws archive::archive_error(io): EEXIST
// when another user's file has the name. A file left half written is only
// ever found without its recovery archive (which is written after it).
void write_removals(const std::string& recovery, const std::vector<std::string>& paths);

// Removes this user's removals of `recovery` if there are any (another
// user's file of that name is left alone); returns whether it removed a
// file. Throws archive::archive_error(io) when they stay.
bool remove_removals(const std::string& recovery);

struct read_removals_result {
  std::optional<std::vector<std::string>> paths;  // nullopt: none to apply
  std::string passed_over;                        // why a file of the name was not read (another user's), for the log
};

// The removals of `recovery`. A file of another user is passed over; one of
// this user that is not as write_removals makes it (a regular file of mode
// 0600 and one link, the heading, valid archive paths) is an error whose
// message says what is wrong with it. Never waits (a FIFO is not opened for
// reading in blocking mode).
result<read_removals_result> read_removals(const std::string& recovery);

}  // namespace sevenzfs::fs
