#pragma once
// The sevenzfs program: parse the command line, open the archive, mount,
// serve until unmounted or signalled, then write the final commit and exit
// with its outcome. Callable in-process.
#include <cstdio>
#include <string>
#include <vector>

namespace sevenzfs::fs {

inline constexpr int kExitOk = 0;
inline constexpr int kExitCommitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitArchiveUnusable = 3;
inline constexpr int kExitMountFailed = 4;

int run_daemon(const std::vector<std::string>& args, std::FILE* out, std::FILE* err);

}  // namespace sevenzfs::fs
