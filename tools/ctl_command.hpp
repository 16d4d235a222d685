#pragma once
// sevenzfs-ctl: flush, stats, watch, unmount and compact a sevenzfs mount
// through the xattrs on its root. The whole program, callable in-process.
#include "ctl_mount.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sevenzfs::tools {

// Exit codes.
inline constexpr int kCtlOk = 0;
inline constexpr int kCtlFailed = 1;       // the operation failed (for flush/unmount: not all is committed)
inline constexpr int kCtlUsage = 2;        // bad command line
inline constexpr int kCtlNotSevenzfs = 3;  // MOUNTPOINT is not a (live) sevenzfs mount

// What the program sees of the system; tests replace parts of it.
struct ctl_environment {
  std::filesystem::path mountinfo = "/proc/self/mountinfo";
  std::filesystem::path proc = "/proc";
  std::optional<bool> terminal;                            // whether `out` is a terminal (default: isatty)
  unsigned width = 0;                                      // its columns (default: asked, else $COLUMNS, else 80)
  std::chrono::milliseconds poll_interval{200};            // progress and exit polls
  std::chrono::milliseconds progress_line_interval{5000};  // plain progress lines
  // The xattrs of a mount root (default: path_xattrs).
  std::function<std::unique_ptr<root_xattrs>(const std::string& mountpoint)> open_xattrs;
};

int ctl_main(const std::vector<std::string>& args, std::FILE* out, std::FILE* err);
int ctl_main(const std::vector<std::string>& args, std::FILE* out, std::FILE* err, const ctl_environment& environment);

}  // namespace sevenzfs::tools
