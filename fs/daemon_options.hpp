#pragma once
// The daemon's command line: sevenzfs [-f] [-d] [-o OPTIONS] ARCHIVE.7z MOUNTPOINT
// Our -o options configure compression and staging; the options mount(8)
// and mount.fuse3 pass through (rw, nofail, _netdev, x-*, ...) are accepted
// and ignored; anything else is an error naming the option.
#include "archive/archive_writer.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sevenzfs::fs {

struct daemon_options {
  std::string archive_path;  // absolute
  std::string mountpoint;
  bool foreground = false;
  bool debug = false;
  bool allow_other = false;
  bool nonempty = false;   // mount over a non-empty directory
  bool wait_lock = false;  // wait for another daemon using the archive instead of failing
  archive::write_options write;
  std::uint64_t pool_bytes = 0;
  std::uint64_t flush_interval_seconds = 0;  // 0: no periodic commit
};

struct parsed_command_line {
  std::optional<daemon_options> options;  // empty: error or help
  std::string error;                      // one line, when options is empty and !help
  bool help = false;
};

parsed_command_line parse_daemon_command_line(const std::vector<std::string>& args);

// The default staging pool: an eighth of physical memory, 64 MiB to 4 GiB.
std::uint64_t default_pool_bytes();

extern const char* const kDaemonUsage;

}  // namespace sevenzfs::fs
