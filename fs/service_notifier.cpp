#include "service_notifier.hpp"

#include <fmt/format.h>

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace sevenzfs::fs {

service_notifier::service_notifier(std::string_view address) noexcept {
  if (address.empty()) return;
  enabled_ = true;
  address_.sun_family = AF_UNIX;
  // A leading '@' names the abstract namespace: a NUL, and the length says
  // where the name ends. A path needs its terminating NUL inside sun_path.
  const bool abstract = address.front() == '@';
  if ((!abstract && address.front() != '/') || address.size() + (abstract ? 0 : 1) > sizeof address_.sun_path) {
    error_ = EINVAL;
    return;
  }
  std::memcpy(address_.sun_path, address.data(), address.size());
  if (abstract) address_.sun_path[0] = '\0';
  address_length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() + (abstract ? 0 : 1));
  socket_ = archive::unique_fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!socket_) error_ = errno;
}

service_notifier service_notifier::from_environment() noexcept {
  const char* address = std::getenv("NOTIFY_SOCKET");
  return service_notifier(address ? std::string_view(address) : std::string_view());
}

int service_notifier::notify(std::string_view message) noexcept {
  if (!enabled_) return 0;
  if (error_ != 0) return error_;
  const ssize_t sent = ::sendto(socket_.get(), message.data(), message.size(), MSG_NOSIGNAL,
                                reinterpret_cast<const sockaddr*>(&address_), address_length_);
  if (sent < 0) return errno;
  return static_cast<std::size_t>(sent) == message.size() ? 0 : EMSGSIZE;
}

int service_notifier::send_with_status(std::string_view first_line, std::string_view status) noexcept {
  if (!enabled_) return 0;
  std::array<char, kMaxStatus + 64> message{};
  std::size_t length = 0;
  const auto append = [&](std::string_view text) {
    const std::size_t room = message.size() - length;
    const std::size_t count = std::min(text.size(), room);
    std::memcpy(message.data() + length, text.data(), count);
    length += count;
  };
  append(first_line);
  if (!status.empty() || first_line.empty()) {
    if (!first_line.empty()) append("\n");
    append("STATUS=");
    // One line: a newline in the text would start another assignment.
    for (const char c : status.substr(0, kMaxStatus)) {
      const auto byte = static_cast<unsigned char>(c);
      append(byte < 0x20 || byte == 0x7f ? std::string_view(" ") : std::string_view(&c, 1));
    }
  }
  return notify(std::string_view(message.data(), length));
}

int service_notifier::ready(std::string_view status) noexcept { return send_with_status("READY=1", status); }

int service_notifier::status(std::string_view text) noexcept { return send_with_status({}, text); }

int service_notifier::stopping(std::string_view status) noexcept { return send_with_status("STOPPING=1", status); }

int service_notifier::extend_timeout(std::chrono::microseconds extension) noexcept {
  std::array<char, 64> message{};
  const auto end = fmt::format_to_n(message.data(), message.size(), "EXTEND_TIMEOUT_USEC={}",
                                    std::max<std::int64_t>(0, extension.count()));
  return notify(std::string_view(message.data(), std::min(end.size, message.size())));
}

}  // namespace sevenzfs::fs
