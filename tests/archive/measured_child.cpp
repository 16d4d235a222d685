#include "measured_child.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace sevenzfs::test {

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

void write_all(int fd, const std::string& text) {
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the parent went away: nothing to report to
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

child_run run_in_child(const std::function<int(std::string& message)>& body, std::chrono::seconds deadline) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) fail("pipe2");
  const auto started = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    ::close(pipe_fds[0]);
    ::alarm(static_cast<unsigned>(deadline.count()));
    std::string message;
    int code = 0;
    try {
      code = body(message);
    } catch (const std::exception& e) {
      message = std::string("uncaught exception: ") + e.what();
      code = 125;
    }
    write_all(pipe_fds[1], message);
    ::_exit(code);
  }
  ::close(pipe_fds[1]);
  child_run run;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    run.message.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  struct rusage usage {};
  pid_t waited = -1;
  do {
    waited = ::wait4(pid, &status, 0, &usage);
  } while (waited < 0 && errno == EINTR);
  if (waited != pid) fail("wait4");
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) run.signal = WTERMSIG(status);
  // ru_maxrss is in KiB on Linux; a child that ran at all has a resident set.
  if (usage.ru_maxrss <= 0) throw std::runtime_error("wait4 reported no peak resident set for the child");
  run.peak_rss_bytes = static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;
  return run;
}

}  // namespace sevenzfs::test
