#pragma once
// Tells systemd how the daemon is doing, as sd_notify(3) does: one datagram
// of VARIABLE=value lines to the AF_UNIX socket named by $NOTIFY_SOCKET
// (a path, or @name for the abstract namespace). When the variable is unset
// (not started as a Type=notify service) every call does nothing.
//
// Written here rather than linking libsystemd: the protocol is a stable,
// documented datagram that sd_notify(3) itself suggests reimplementing; the
// daemon gains no library (libsystemd0 pulls in liblz4, libzstd, libgcrypt,
// libcap) and no build dependency, and the calls cannot allocate or throw.
//
// The socket is non-blocking: a message systemd cannot take at once is
// dropped (EAGAIN) rather than stalling a commit. Any thread may call; the
// sender is the process (its pid), which is what NotifyAccess=main checks.
#include "archive/file_io.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <string_view>

namespace sevenzfs::fs {

class service_notifier {
 public:
  // Disabled.
  service_notifier() noexcept = default;
  // Sends to `address`: "/absolute/path" or "@abstract-name"; empty:
  // disabled. Any other address makes every call return EINVAL.
  explicit service_notifier(std::string_view address) noexcept;
  // $NOTIFY_SOCKET, or disabled when it is unset or empty.
  static service_notifier from_environment() noexcept;

  service_notifier(service_notifier&&) noexcept = default;
  service_notifier& operator=(service_notifier&&) noexcept = default;
  service_notifier(const service_notifier&) = delete;
  service_notifier& operator=(const service_notifier&) = delete;

  bool enabled() const noexcept { return enabled_; }

  // Each returns 0 (also when disabled) or the errno of the failed send.
  // Status texts are one line: control characters become spaces, and texts
  // are cut at kMaxStatus bytes.
  int ready(std::string_view status = {}) noexcept;     // READY=1 [STATUS=...]
  int status(std::string_view text) noexcept;           // STATUS=...
  int stopping(std::string_view status = {}) noexcept;  // STOPPING=1 [STATUS=...]
  // EXTEND_TIMEOUT_USEC=...: the start or stop timeout now ends `extension`
  // from now (send it again before that while work progresses).
  int extend_timeout(std::chrono::microseconds extension) noexcept;
  // A message as it is (VARIABLE=value lines).
  int notify(std::string_view message) noexcept;

  static constexpr std::size_t kMaxStatus = 1024;

 private:
  int send_with_status(std::string_view first_line, std::string_view status) noexcept;

  archive::unique_fd socket_;
  sockaddr_un address_{};
  socklen_t address_length_ = 0;
  bool enabled_ = false;
  int error_ = 0;  // why the address cannot be used; returned by every call
};

}  // namespace sevenzfs::fs
