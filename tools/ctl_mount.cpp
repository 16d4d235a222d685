#include "ctl_mount.hpp"

#include "fs/control_ioctl.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace sevenzfs::tools {

namespace {

// A descriptor closed at the end of its scope.
struct scoped_fd {
  explicit scoped_fd(int opened) : fd(opened) {}
  ~scoped_fd() {
    if (fd >= 0) ::close(fd);
  }
  scoped_fd(const scoped_fd&) = delete;
  scoped_fd& operator=(const scoped_fd&) = delete;
  int fd;
};

class path_root_xattrs final : public root_xattrs {
 public:
  explicit path_root_xattrs(std::string root) : root_(std::move(root)) {}

  std::expected<std::string, int> get(std::string_view key) override {
    const std::string name = fmt::format("{}{}", kXattrPrefix, key);
    // The value may grow between asking its size and reading it: retry.
    for (int attempt = 0; attempt < 8; ++attempt) {
      const ssize_t size = ::getxattr(root_.c_str(), name.c_str(), nullptr, 0);
      if (size < 0) return std::unexpected(errno);
      std::string value(static_cast<std::size_t>(size) + 64, '\0');
      const ssize_t got = ::getxattr(root_.c_str(), name.c_str(), value.data(), value.size());
      if (got >= 0) {
        value.resize(static_cast<std::size_t>(got));
        return value;
      }
      if (errno != ERANGE) return std::unexpected(errno);
    }
    return std::unexpected(ERANGE);
  }

  int set(std::string_view key) override {
    // By ioctl where there is one (see fs/control_ioctl.hpp); a daemon from
    // before those answers ENOTTY, and gets the attribute.
    if (const unsigned command = fs::ioctl_of_control(key); command != 0) {
      if (const int error = by_ioctl(command); error != ENOTTY) return error;
    }
    const std::string name = fmt::format("{}{}", kXattrPrefix, key);
    if (::setxattr(root_.c_str(), name.c_str(), "1", 1, 0) == 0) return 0;
    const int error = errno;
    // A read-only mount: its unmount by ioctl (see fs/control_ioctl.hpp).
    if (error == EROFS && key == "unmount") return by_ioctl(fs::kUnmountIoctl);
    return error;
  }

 private:
  // 0, or the errno of the ioctl on the root directory.
  int by_ioctl(unsigned command) const {
    const scoped_fd root(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (root.fd < 0) return errno;
    return ::ioctl(root.fd, command) == 0 ? 0 : errno;
  }

  std::string root_;
};

// mountinfo writes space, tab, newline and backslash as \ooo.
std::string unescape_octal(std::string_view text) {
  std::string result;
  result.reserve(text.size());
  const auto digit = [&](std::size_t k) { return text[k] >= '0' && text[k] <= '7'; };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size() && digit(i + 1) && digit(i + 2) && digit(i + 3)) {
      result += static_cast<char>((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 + (text[i + 3] - '0'));
      i += 3;
      continue;
    }
    result += text[i];
  }
  return result;
}

// Whether the comma-separated `options` hold `name`.
bool has_option(std::string_view options, std::string_view name) {
  for (;;) {
    const auto comma = options.find(',');
    if (options.substr(0, comma) == name) return true;
    if (comma == std::string_view::npos) return false;
    options.remove_prefix(comma + 1);
  }
}

std::filesystem::path normalised_absolute(const std::string& path) {
  std::filesystem::path absolute =
      std::filesystem::path(path).is_absolute() ? std::filesystem::path(path) : std::filesystem::current_path() / path;
  absolute = absolute.lexically_normal();
  // lexically_normal keeps a trailing separator as an empty last element.
  std::string text = absolute.string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  return text;
}

const mount_entry* topmost(const std::string& mountpoint, const std::vector<mount_entry>& mounts) {
  const mount_entry* found = nullptr;
  for (const auto& mount : mounts) {
    if (mount.mountpoint == mountpoint) found = &mount;
  }
  return found;
}

// The innermost sevenzfs mount that holds `path` below its root.
const mount_entry* enclosing_sevenzfs(const std::string& path, const std::vector<mount_entry>& mounts) {
  const mount_entry* found = nullptr;
  for (const auto& mount : mounts) {
    const std::string prefix = mount.mountpoint == "/" ? "/" : mount.mountpoint + "/";
    if (path.starts_with(prefix) && (!found || mount.mountpoint.size() >= found->mountpoint.size())) {
      found = &mount;
    }
  }
  return found && found->fstype == kSevenzfsFstype ? found : nullptr;
}

}  // namespace

std::unique_ptr<root_xattrs> path_xattrs(std::string root) {
  return std::make_unique<path_root_xattrs>(std::move(root));
}

std::vector<mount_entry> parse_mountinfo(std::string_view text) {
  std::vector<mount_entry> mounts;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::vector<std::string_view> fields;
    std::size_t position = start;
    while (position < end) {
      const auto space = std::min(text.find(' ', position), end);
      if (space > position) fields.push_back(text.substr(position, space - position));
      position = space + 1;
    }
    start = end + 1;
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS
    std::size_t separator = 6;
    while (separator < fields.size() && fields[separator] != "-") ++separator;
    if (fields.size() < 5 || separator + 2 >= fields.size()) continue;
    // The superblock's options: what the daemon was mounted with (a bind
    // mount made read-only later says so in its own options, field 6 only).
    const bool read_only = separator + 3 < fields.size() && has_option(fields[separator + 3], "ro");
    mounts.push_back({unescape_octal(fields[4]), unescape_octal(fields[separator + 1]),
                      unescape_octal(fields[separator + 2]), read_only});
  }
  return mounts;
}

bool is_sevenzfs_mounted(const std::string& mountpoint, const std::vector<mount_entry>& mounts) {
  const auto* mount = topmost(mountpoint, mounts);
  return mount && mount->fstype == kSevenzfsFstype;
}

std::expected<mount_entry, std::string> find_sevenzfs_mount(const std::string& path,
                                                            const std::vector<mount_entry>& mounts) {
  const std::string absolute = normalised_absolute(path).string();
  struct stat info {};
  if (::stat(absolute.c_str(), &info) != 0) {
    const int error = errno;
    if (error == ENOTCONN) {
      if (const auto* mount = topmost(absolute, mounts); mount && mount->fstype == kSevenzfsFstype) {
        return std::unexpected(
            fmt::format("{}: the sevenzfs daemon of this mount is gone (transport endpoint is not connected); "
                        "`fusermount3 -u {}` removes the dead mount",
                        path, absolute));
      }
    }
    if (error == ENOENT) return std::unexpected(fmt::format("{}: does not exist", path));
    if (error == EACCES && topmost(absolute, mounts)) {
      return std::unexpected(fmt::format(
          "{}: permission denied (a mount without allow_other is usable only by the user who mounted it)", path));
    }
    return std::unexpected(fmt::format("{}: {}", path, std::strerror(error)));
  }
  if (!S_ISDIR(info.st_mode)) return std::unexpected(fmt::format("{}: is not a directory", path));
  std::vector<std::string> candidates{absolute};
  if (char resolved[PATH_MAX]; ::realpath(absolute.c_str(), resolved) != nullptr && absolute != resolved) {
    candidates.emplace_back(resolved);
  }
  for (const auto& candidate : candidates) {
    const auto* mount = topmost(candidate, mounts);
    if (!mount) continue;
    if (mount->fstype != kSevenzfsFstype) {
      return std::unexpected(fmt::format("{}: is a {} mount, not a sevenzfs mount", path, mount->fstype));
    }
    return *mount;
  }
  for (const auto& candidate : candidates) {
    if (const auto* mount = enclosing_sevenzfs(candidate, mounts)) {
      return std::unexpected(
          fmt::format("{}: is not a mount point; it is inside the sevenzfs mount {}", path, mount->mountpoint));
    }
  }
  return std::unexpected(fmt::format("{}: is not a mount point", path));
}

std::optional<process_identity> find_process(const std::filesystem::path& proc, long pid) {
  if (pid <= 0) return std::nullopt;
  const std::string stat = read_text_file(proc / std::to_string(pid) / "stat");
  // PID (COMM) STATE PPID ... field 22 is the start time; COMM may hold spaces and parentheses.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 1));
  std::string state;
  fields >> state;
  if (state.empty() || state == "Z" || state == "X" || state == "x") return std::nullopt;
  std::string skipped;
  for (int field = 4; field < 22; ++field) fields >> skipped;
  std::uint64_t start_ticks = 0;
  if (!(fields >> start_ticks)) return std::nullopt;
  return process_identity{pid, start_ticks};
}

bool is_running(const std::filesystem::path& proc, const process_identity& process) {
  const auto now = find_process(proc, process.pid);
  return now && now->start_ticks == process.start_ticks;
}

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace sevenzfs::tools
