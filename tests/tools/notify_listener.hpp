#pragma once
// The systemd side of sd_notify for tests: a datagram socket that reports
// each message and the pid that sent it.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

namespace sevenzfs::test {

class notify_listener {
 public:
  // `name`: a path, or "@name" for the abstract namespace.
  explicit notify_listener(const std::string& name);
  ~notify_listener();
  notify_listener(const notify_listener&) = delete;
  notify_listener& operator=(const notify_listener&) = delete;

  bool bound() const { return bound_; }

  struct message {
    std::string text;
    pid_t sender = 0;
  };

  // The next message, or nothing after `timeout`.
  std::optional<message> receive(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

 private:
  int fd_ = -1;
  bool bound_ = false;
};

}  // namespace sevenzfs::test
