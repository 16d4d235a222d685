#pragma once
// Runs a function in a forked child and measures it from outside: wall time
// and the child's peak resident set (wait4's ru_maxrss), with a deadline
// after which the child is killed. A run that cannot be measured throws
// std::runtime_error: a test must never pass because nothing was measured.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace sevenzfs::test {

struct child_run {
  int exit_code = -1;   // what the function returned, when the child exited
  int signal = 0;       // what killed the child (SIGALRM: the deadline passed); 0 when it exited
  std::string message;  // what the function put in its `message` argument
  double seconds = 0;
  std::uint64_t peak_rss_bytes = 0;
};

// `body` runs in the child (which then _exits with its return value, 0-255);
// the parent must not run other threads that hold locks the child needs.
child_run run_in_child(const std::function<int(std::string& message)>& body, std::chrono::seconds deadline);

}  // namespace sevenzfs::test
