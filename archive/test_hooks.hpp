#pragma once
// Failure injection for tests that cannot make the system fail on cue
// (descriptors running out, allocation failing after the commit point).
// Nothing here acts unless its environment variable is set.
#include <atomic>
#include <cstdlib>

namespace sevenzfs::archive {

// Whether this call is the N-th of the calls made while `variable` (= N) is
// set, counted over the process: set for a whole daemon, it picks one call;
// a test that sets it several times counts on from the calls before.
inline bool nth_call_while_set(const char* variable, std::atomic<int>& calls) {
  const char* nth = std::getenv(variable);
  return nth != nullptr && ++calls == std::atoi(nth);
}

}  // namespace sevenzfs::archive
