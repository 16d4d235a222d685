#include "notify_listener.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

namespace sevenzfs::test {

notify_listener::notify_listener(const std::string& name) {
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (name.empty() || name.size() >= sizeof address.sun_path) return;
  std::memcpy(address.sun_path, name.data(), name.size());
  const bool abstract = name[0] == '@';
  if (abstract) address.sun_path[0] = '\0';
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (abstract ? 0 : 1));
  bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) == 0;
  const int on = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
}

notify_listener::~notify_listener() { ::close(fd_); }

std::optional<notify_listener::message> notify_listener::receive(std::chrono::milliseconds timeout) {
  pollfd ready{fd_, POLLIN, 0};
  if (::poll(&ready, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
  char buffer[8192];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
  iovec data{buffer, sizeof buffer};
  msghdr header{};
  header.msg_iov = &data;
  header.msg_iovlen = 1;
  header.msg_control = control;
  header.msg_controllen = sizeof control;
  const ssize_t size = ::recvmsg(fd_, &header, 0);
  if (size < 0) return std::nullopt;
  message received{std::string(buffer, static_cast<std::size_t>(size)), 0};
  for (cmsghdr* c = CMSG_FIRSTHDR(&header); c; c = CMSG_NXTHDR(&header, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
      ucred credentials{};
      std::memcpy(&credentials, CMSG_DATA(c), sizeof credentials);
      received.sender = credentials.pid;
    }
  }
  return received;
}

}  // namespace sevenzfs::test
