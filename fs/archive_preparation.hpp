#pragma once
// What the daemon does with the archive and what lies beside it before it
// reads the archive, once it holds the archive's lock. A writable mount
// removes what crashed writers left and commits what an earlier daemon's
// failed final commit kept; a read-only mount changes nothing, and only
// says what it does not show.
#include "archive_lock.hpp"
#include "daemon_options.hpp"
#include "log.hpp"

#include <functional>
#include <string>

namespace sevenzfs::fs {

// Why a read-only mount cannot show the archive (missing or empty: a
// writable mount would create it), or "" (also for a writable mount).
std::string read_only_problem(const daemon_options& options);

// Read-only: logs each recovery archive of this archive (beside it, or in
// recovery_dir) that the next writable mount commits; this one removes and
// commits nothing.
void warn_of_uncommitted_recovery(const daemon_options& options, logger& log);

// Writable: removes what crashed writers left beside the archive, then
// commits the recovery archives of a failed final commit (`starting` says
// so to systemd). kExitOk, or the status to exit with.
int prepare_archive(const daemon_options& options, logger& log, archive_lock& lock,
                    const std::function<void(std::string)>& starting);

}  // namespace sevenzfs::fs
