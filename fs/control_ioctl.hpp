#pragma once
// The controls sevenzfs-ctl asks for by ioctl on the mount's root directory:
// the same as setting user.sevenzfs.flush or user.sevenzfs.compact there,
// but the kernel holds a file's lock for the whole of a setxattr on it, so
// while a flush set on the root commits, creating, removing or listing
// entries at the top of the mount waits (a `mkdir` took 18.6 s, the whole
// flush); an ioctl holds no lock. The unmount stays an xattr: an ioctl needs
// an open descriptor, which would keep the mount busy while the daemon
// unmounts itself. But a read-only mount refuses every setxattr (EROFS),
// and has nothing to commit: its unmount comes by ioctl (the daemon detaches
// the mount lazily, and it goes once the descriptor is closed). Shared by
// the daemon and sevenzfs-ctl.
#include <sys/ioctl.h>

#include <string_view>

namespace sevenzfs::fs {

inline constexpr unsigned kFlushIoctl = _IO('7', 1);
inline constexpr unsigned kCompactIoctl = _IO('7', 2);
inline constexpr unsigned kUnmountIoctl = _IO('7', 3);  // read-only mounts: see above

// The control attribute an ioctl stands for; empty for any other command.
constexpr std::string_view control_xattr_of_ioctl(unsigned command) {
  if (command == kFlushIoctl) return "user.sevenzfs.flush";
  if (command == kCompactIoctl) return "user.sevenzfs.compact";
  if (command == kUnmountIoctl) return "user.sevenzfs.unmount";
  return {};
}

// The ioctl sevenzfs-ctl sends first for control `name` ("flush",
// "compact"), or 0.
constexpr unsigned ioctl_of_control(std::string_view name) {
  if (name == "flush") return kFlushIoctl;
  if (name == "compact") return kCompactIoctl;
  return 0;
}

}  // namespace sevenzfs::fs
