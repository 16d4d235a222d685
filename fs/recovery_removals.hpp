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
// none.
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

// Writes `paths` as the removals of `recovery`: a temporary of mode 0600
// beside it, fsync, rename, fsync of the directory. Throws
// archive::archive_error(io), leaving no temporary.
void write_removals(const std::string& recovery, const std::vector<std::string>& paths);

// Removes the removals of `recovery` if there are any. Throws
// archive::archive_error(io) when they stay.
void remove_removals(const std::string& recovery);

// The removals of `recovery`: nullopt when there are none. A file that is
// not as write_removals makes it (a regular file of this user, mode 0600, one
// link, the heading, valid archive paths) is an error whose message says
// what is wrong with it.
result<std::optional<std::vector<std::string>>> read_removals(const std::string& recovery);

}  // namespace sevenzfs::fs
