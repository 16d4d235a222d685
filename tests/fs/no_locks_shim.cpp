// Loaded into the daemon with LD_PRELOAD, it stands in for a file system
// that keeps no locks (an NFS mount whose lock service does not run): fcntl's
// lock commands on a file whose path starts with $SEVENZFS_TEST_NO_LOCKS_UNDER
// fail with ENOLCK; everything else goes to the C library's fcntl.
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

bool is_lock_command(int command) {
  switch (command) {
    case F_GETLK:
    case F_SETLK:
    case F_SETLKW:
    case F_OFD_GETLK:
    case F_OFD_SETLK:
    case F_OFD_SETLKW: return true;
    default: return false;
  }
}

bool without_locks(int fd) {
  const char* under = std::getenv("SEVENZFS_TEST_NO_LOCKS_UNDER");
  if (under == nullptr || *under == '\0') return false;
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char target[4096];
  const ssize_t length = ::readlink(link, target, sizeof target - 1);
  if (length < 0) return false;
  target[length] = '\0';
  return std::strncmp(target, under, std::strlen(under)) == 0;
}

using fcntl_function = int (*)(int, int, ...);

int forward(const char* name, int fd, int command, void* argument) {
  if (is_lock_command(command) && without_locks(fd)) {
    errno = ENOLCK;
    return -1;
  }
  const auto real = reinterpret_cast<fcntl_function>(::dlsym(RTLD_NEXT, name));
  return real(fd, command, argument);
}

}  // namespace

// The C library reads fcntl's third argument as a pointer-sized word too,
// whatever the command.
extern "C" int fcntl(int fd, int command, ...) {
  va_list arguments;
  va_start(arguments, command);
  void* argument = va_arg(arguments, void*);
  va_end(arguments);
  return forward("fcntl", fd, command, argument);
}

extern "C" int fcntl64(int fd, int command, ...) {
  va_list arguments;
  va_start(arguments, command);
  void* argument = va_arg(arguments, void*);
  va_end(arguments);
  return forward("fcntl64", fd, command, argument);
}
