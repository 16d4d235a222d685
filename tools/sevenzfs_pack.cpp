#include "pack_command.hpp"

#include "archive/output_file.hpp"
#include "fs/signal_watcher.hpp"

#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <system_error>

namespace {

// Ctrl-C, SIGTERM or SIGHUP while the archive is written: its temporary
// goes, as after an error, and the program ends by that signal.
[[noreturn]] void end_on(int signal) {
  sevenzfs::archive::remove_unfinished_outputs();
  fmt::print(stderr, "sevenzfs-pack: interrupted by SIG{}; the unfinished archive is removed\n", sigabbrev_np(signal));
  std::fflush(stderr);
  std::signal(signal, SIG_DFL);
  sigset_t just_this;
  sigemptyset(&just_this);
  sigaddset(&just_this, signal);
  ::pthread_sigmask(SIG_UNBLOCK, &just_this, nullptr);
  std::raise(signal);
  std::_Exit(128 + signal);  // not reached: the signal ends the process
}

}  // namespace

int main(int argc, char** argv) {
  using sevenzfs::fs::signal_watcher;
  const sigset_t ending = signal_watcher::block({SIGINT, SIGTERM, SIGHUP});
  std::optional<signal_watcher> watcher;
  try {
    watcher.emplace(ending, end_on);
  } catch (const std::system_error&) {
    ::pthread_sigmask(SIG_UNBLOCK, &ending, nullptr);  // as before: the signals end it, leaving the temporary
  }
  return sevenzfs::tools::pack_main(std::vector<std::string>(argv + 1, argv + argc), stdout, stderr);
}
