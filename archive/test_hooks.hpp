#pragma once
// Failure injection for tests that cannot make the system fail on cue
// (descriptors running out, allocation failing after the commit point).
// Nothing here acts unless its environment variable is set.
#include <atomic>
#include <cstdlib>

namespace sevenzfs::archive {

// Whether this call is the N-th, counted while `variable` (= N) is set:
// a test sets it just before the call it means, or for a whole process.
inline bool nth_call_while_set(const char* variable, std::atomic<int>& calls) {
  const char* nth = std::getenv(variable);
  return nth != nullptr && ++calls == std::atoi(nth);
}

}  // namespace sevenzfs::archive
