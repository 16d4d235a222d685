#pragma once
// The daemon's command line: sevenzfs [-f] [-d] [-V] [-o OPTIONS] ARCHIVE.7z MOUNTPOINT
// (also in mount.fuse3's form, ARCHIVE MOUNTPOINT -o OPTIONS). libfuse's own
// option parser splits it; our -o options configure compression, staging and
// the mount; generic FUSE options (allow_other, auto_unmount, fsname=,
// max_read=, ...) go to libfuse, which refuses what it does not know; options
// mount(8) and fstab pass along that mean nothing here (defaults, nofail,
// _netdev, x-*, ...) are ignored.
#include "archive/archive_writer.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sevenzfs::fs {

// Named on its own: comparing with a default-built daemon_options made GCC 12
// warn (-Wmaybe-uninitialized) about the temporary's std::function members.
inline constexpr std::string_view kDefaultRecoveryDir = "/var/tmp";

struct daemon_options {
  std::string archive_path;  // absolute
  std::string mountpoint;    // absolute, without a trailing '/'
  bool foreground = false;
  bool debug = false;         // debug log lines, and libfuse's request trace
  bool nonempty = false;      // mount over a non-empty directory
  bool wait_lock = false;     // wait for another daemon using the archive instead of failing
  bool kernel_cache = false;  // keep file pages in the kernel's cache across opens
  // Mounted read-only (-o ro): the archive is read, never written, locked
  // shared with other read-only mounts, and may lie on read-only media.
  bool read_only = false;
  archive::write_options write;
  std::uint64_t pool_bytes = 0;
  std::uint64_t cache_bytes = std::uint64_t{64} << 20;  // decoded archive data kept for reads
  std::uint64_t flush_interval_seconds = 0;             // 0: no periodic commit
  // How long a closed file waits before it is sealed for the compressor:
  // one reopened for writing within it is not compressed twice. A quarter
  // second: with a second, a copy of many files left a core idle for its
  // first second, and copy plus final commit of 10,000 blob-cache files
  // took longer in 9 of 12 pairs of runs (by 5 % in sum; the copy itself
  // took about 10 % longer, as compression beside it starts sooner). A file
  // written again after each compression waits longer each time
  // (sealer::closed).
  std::chrono::milliseconds settle{250};
  // Compression threads while writes go on and the pool is less than half
  // full (see sealer.hpp); 0: settled files wait instead. Unset: one fewer
  // than write.compression.threads. defer_while_writing=1 sets 0, =0 all.
  std::optional<unsigned> writing_threads;
  // Looked at this often while no closed file waits: when at most 1 MiB/s
  // of staging memory was taken since the last look and the compressor is
  // idle, its encoders, the pool's free pages and, once after each commit,
  // the free heap pages it left go back to the kernel (0: never).
  std::chrono::milliseconds idle_release{30'000};
  // A commit is followed by a compaction when dead bytes exceed this share
  // of the archive, in percent (0: only on request).
  std::uint32_t compact_at_percent = 25;
  // Owner of archived entries (7z stores none) and of the root: the
  // daemon's user and group unless uid=/gid= say otherwise.
  std::optional<std::uint32_t> uid;
  std::optional<std::uint32_t> gid;
  // Where the recovery archive goes when it cannot be written beside the
  // archive (recovery.hpp): absolute.
  std::string recovery_dir{kDefaultRecoveryDir};
  std::vector<std::string> fuse_options;  // for libfuse's mount (-o)
};

struct parsed_command_line {
  std::optional<daemon_options> options;  // empty: error, help or version
  std::string error;                      // one line, when options is empty and neither is asked
  bool help = false;
  bool version = false;
};

parsed_command_line parse_daemon_command_line(const std::vector<std::string>& args);

// The machine's physical memory (1 GiB when it cannot be told): the most
// pool_size may be.
std::uint64_t physical_memory_bytes();
// The default staging pool: an eighth of physical memory, 64 MiB to 4 GiB.
std::uint64_t default_pool_bytes();

// The write options as the daemon compresses with them, streaming and in
// commits: parts (of solid folders and of large files) capped so that
// threads + 1 of them fit in half of the staging pool, the user's memory
// knob; the compressor's input bound (threads + 2 parts: two thirds of the
// pool with two threads) then holds before the pool fills. Not shorter: a
// part handed to another worker than the one holding its folder's stream is
// primed with a dictionary of the bytes before it, nearly the cost of
// compressing them, and with a 128 MiB pool and two threads a quarter made
// parts of 10.7 MiB (half: 21.3 MiB) against a 16 MiB primer at level 5.
archive::write_options daemon_write_options(const daemon_options& options);

// The items of libfuse's -o list: ours, then the user's generic options.
// `default_permissions` (the kernel checks each access against the modes the
// mount shows) unless only root can enter: run by root with neither
// allow_other nor allow_root. Root passes those checks anyway (the kernel
// still refuses to execute a file with no x bit), and without them the kernel
// does not fetch a directory's attributes again after each create in it: one
// request in seven fewer per copied file. `-o default_permissions` keeps it.
std::vector<std::string> fuse_mount_items(const daemon_options& options, bool run_by_root);

extern const char* const kDaemonUsage;

}  // namespace sevenzfs::fs
