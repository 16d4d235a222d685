#include "signal_watcher.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace sevenzfs::fs {
namespace {

archive::unique_fd checked(int fd, const char* what) {
  if (fd < 0) throw std::system_error(errno, std::generic_category(), what);
  return archive::unique_fd(fd);
}

}  // namespace

sigset_t signal_watcher::block(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (const int signal : signals) {
    // One ignored by whoever started us (nohup: SIGHUP) stays ignored: a
    // blocked signal is queued, and read, even while its action is SIG_IGN.
    struct sigaction current {};
    if (::sigaction(signal, nullptr, &current) == 0 && current.sa_handler == SIG_IGN) continue;
    sigaddset(&set, signal);
  }
  if (const int error = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); error != 0) {
    throw std::system_error(error, std::generic_category(), "pthread_sigmask");
  }
  return set;
}

signal_watcher::signal_watcher(const sigset_t& signals, std::function<void(int signal)> on_signal)
    : on_signal_(std::move(on_signal)),
      signals_(checked(::signalfd(-1, &signals, SFD_CLOEXEC), "signalfd")),
      stop_(checked(::eventfd(0, EFD_CLOEXEC), "eventfd")),
      thread_([this] { run(); }) {}

signal_watcher::~signal_watcher() {
  const std::uint64_t one = 1;
  // An eventfd write of 1 cannot block or fail short of a counter at its
  // maximum, which nothing else adds to.
  while (::write(stop_.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
  thread_.join();
}

void signal_watcher::run() {
  pollfd watched[2] = {{signals_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
  for (;;) {
    if (::poll(watched, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;  // cannot happen with two valid descriptors; never spin
    }
    if (watched[1].revents != 0) return;
    signalfd_siginfo info{};
    const ssize_t got = ::read(signals_.get(), &info, sizeof info);
    if (got == static_cast<ssize_t>(sizeof info)) on_signal_(static_cast<int>(info.ssi_signo));
  }
}

}  // namespace sevenzfs::fs
