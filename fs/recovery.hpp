#pragma once
// What a failed final commit would have lost. The final commit runs after
// the kernel mount is gone (fusermount3 -u returns first), so when it fails
// (a full disk) nobody can retry it: the daemon writes what it would have
// written into a recovery archive beside the archive, ARCHIVE.recovery.7z —
// a standard 7z, mode 0600 —, and the next mount of ARCHIVE (holding the
// lock, before it loads the archive) commits it: its paths replace the
// archive's, and it is removed only after that commit succeeded. When it
// cannot be written there (the archive's disk is full, which is why the
// commit failed), it goes into the recovery_dir option's directory
// (/var/tmp), named for the archive's whole path; the next mount with the
// same recovery_dir commits it from there as well.
//
// What the recovery archive holds: every file and symlink whose content
// changed, every file and symlink archived before whose name, mode or time
// changed (with its content, read from the archive), and the directories
// and empty files the archive does not hold as they are. Beside it, in
// RECOVERY.removed, the archived paths the tree no longer shows (removed, or
// the old names of renames), which its commit removes from the archive
// (recovery_removals.hpp): a 7z cannot say "remove" in a way every reader
// accepts. Removals alone are saved beside an empty recovery archive.
#include "file_content.hpp"
#include "inode_table.hpp"
#include "log.hpp"
#include "result.hpp"

#include "archive/archive_snapshot.hpp"
#include "archive/cached_reader.hpp"
#include "archive/entry.hpp"

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>

namespace sevenzfs::fs {

struct daemon_options;

// ARCHIVE.recovery.7z, beside the archive.
std::string recovery_path_of(const std::string& archive_path);

// The start of the names of ARCHIVE's recovery archives in recovery_dir,
// which end in six random characters and ".7z": "sevenzfs-", the archive's
// path escaped as systemd escapes paths (/srv/a-b.7z: srv-a\x2db.7z), then
// ".recovery-"; past 200 characters, the escaped path's end after a CRC-32
// of the whole path. So one archive's names are not another's (for long
// paths, unless their CRCs and ends agree).
std::string spare_recovery_prefix(const std::string& archive_path);

struct saved_changes {
  std::string path;            // the recovery archive; empty: nothing needed saving
  std::string not_beside;      // why it is not ARCHIVE.recovery.7z (then it is in recovery_dir)
  std::uint64_t files = 0;     // entries with content in it
  std::uint64_t bytes = 0;     // their content bytes
  std::uint64_t left_out = 0;  // renamed or re-timed archived files that could not be copied
  std::uint64_t appends_lost = 0;  // files appended to whose archived start could not be read
  std::uint64_t removals = 0;      // archived paths removed or renamed away (recovery_removals.hpp)
};

// After a failed final commit (nothing else runs): writes the recovery
// archive for `inodes` (see the top of this file). `archived` is the archive
// as last committed (null: none). An archived file whose bytes cannot be
// read (a method not decoded here, damage) would sink the whole recovery
// archive: then it is tried without those of the archived files only
// renamed or re-timed (left_out counts them) and of the files appended to
// without being read back, whose archived start the save decodes
// (appends_lost counts them), that cannot be read (each read once to tell);
// then without all the former, all the latter, both. The log names what is left
// out; a file left out keeps its old name too, which its removals then leave
// in the archive. Each attempt is written beside the archive, or else into
// recovery_dir, its removals with it. Failure: the message says what is lost.
result<saved_changes> save_uncommitted(inode_table& inodes, const content_services& content,
                                       const std::shared_ptr<const archive::archive_snapshot>& archived,
                                       const daemon_options& options, logger& log);

// A failed in-place commit leaves the bytes it wrote in the archive, past a
// copy of the header: gives them back (logged; a failure only at debug
// level: the next commit or mount tries again).
void give_back_dead_space(const daemon_options& options, logger& log);

// Why the recovery archive could not be committed at mount.
struct recovery_failure {
  bool commit_failed = false;  // true: the commit failed (a full disk); false: a file cannot be read
  std::string message;         // says what to do; both files are left as they were
};

// At mount, with the archive's lock held, before the archive is loaded:
// commits ARCHIVE.recovery.7z and the archive's recovery archives in
// recovery_dir, oldest first, removing each once committed. An empty one (a
// save interrupted before anything was written) is just removed. One in
// recovery_dir that is not as the save makes it (a regular file of this
// user, mode 0600, one link) is left alone (logged); one older than the
// archive, one in the default recovery_dir when the option names another,
// or a recovery_dir that cannot be listed, refuses the mount (see
// recovery_import.cpp).
// `committing` is told each one's path before its commit; `committed` runs
// after each commit (the daemon's lock then follows the archive written
// anew: holding the old file would keep its space taken from the next).
std::expected<void, recovery_failure> commit_recovery_archive(
    const daemon_options& options, logger& log,
    const std::function<void(const std::string&)>& committing = [](const std::string&) {},
    const std::function<void()>& committed = [] {});

}  // namespace sevenzfs::fs
