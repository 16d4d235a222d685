#pragma once
// sevenzfs-ctl's view of a mount: finding it in /proc/self/mountinfo, the
// xattrs on its root through which the daemon answers, and the daemon's
// process as seen in /proc.
#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sevenzfs::tools {

inline constexpr std::string_view kSevenzfsFstype = "fuse.sevenzfs";
inline constexpr std::string_view kXattrPrefix = "user.sevenzfs.";

// The values and controls user.sevenzfs.<key> on a mount root. Thread-safe:
// a progress display reads values while another thread waits in set().
class root_xattrs {
 public:
  virtual ~root_xattrs() = default;
  // The value, or the errno (ENODATA: no such value; ENOTCONN: the daemon is gone).
  virtual std::expected<std::string, int> get(std::string_view key) = 0;
  // Sets the control `key` and returns the daemon's reply: 0 or an errno.
  virtual int set(std::string_view key) = 0;
};

// getxattr/setxattr by path. Not through a descriptor: an open descriptor
// would keep the mount busy while the daemon unmounts itself. Except for the
// flush and the compaction, which go by ioctl on a descriptor of the root
// held for the call (see fs/control_ioctl.hpp).
std::unique_ptr<root_xattrs> path_xattrs(std::string root);

struct mount_entry {
  std::string mountpoint;  // escapes of mountinfo undone
  std::string fstype;      // e.g. fuse.sevenzfs
  std::string source;
  bool read_only = false;  // the filesystem was mounted ro (sevenzfs -o ro)
};

// The lines of /proc/PID/mountinfo, in order (later entries are mounted on top).
std::vector<mount_entry> parse_mountinfo(std::string_view text);

// Finds the mount whose mountpoint is `path` (relative, with or without a
// trailing slash, or through a symlink). An error is one sentence naming
// `path`: it does not exist, is not a mount point, is another filesystem,
// or is a sevenzfs mount whose daemon is gone.
std::expected<mount_entry, std::string> find_sevenzfs_mount(const std::string& path,
                                                            const std::vector<mount_entry>& mounts);

// Whether `mountpoint` is still a sevenzfs mount in `mounts`.
bool is_sevenzfs_mounted(const std::string& mountpoint, const std::vector<mount_entry>& mounts);

// A process as /proc shows it; its start time tells a reused pid apart.
struct process_identity {
  long pid = 0;
  std::uint64_t start_ticks = 0;
};

// The process `pid` if /proc shows it running (not a zombie).
std::optional<process_identity> find_process(const std::filesystem::path& proc, long pid);
// False once the process has exited (also while a zombie) or its pid was reused.
bool is_running(const std::filesystem::path& proc, const process_identity& process);

std::string read_text_file(const std::filesystem::path& path);

}  // namespace sevenzfs::tools
