// sd_notify messages reach a socket the test reads, on a path and in the
// abstract namespace, in order, one line per status, from the process's pid
// (what NotifyAccess=main checks); without NOTIFY_SOCKET nothing is sent.
#include "fs/service_notifier.hpp"

#include "test_support.hpp"
#include "tools/notify_listener.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>

using sevenzfs::fs::service_notifier;
using namespace sevenzfs::test;
using namespace std::chrono_literals;

namespace {

std::string abstract_name() {
  static std::atomic<int> counter{0};
  return "@sevenzfs-notify-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

void expect_service_lifecycle(const std::string& address) {
  notify_listener systemd(address);
  ASSERT_TRUE(systemd.bound()) << address;
  service_notifier notifier(address);
  EXPECT_TRUE(notifier.enabled());
  EXPECT_EQ(notifier.ready("mounted /mnt/a"), 0);
  EXPECT_EQ(notifier.status("committing 45 % (123 of 273 MiB)"), 0);
  EXPECT_EQ(notifier.stopping("final commit"), 0);
  EXPECT_EQ(notifier.extend_timeout(30s), 0);
  EXPECT_EQ(notifier.stopping(), 0);
  for (const char* expected : {"READY=1\nSTATUS=mounted /mnt/a", "STATUS=committing 45 % (123 of 273 MiB)",
                               "STOPPING=1\nSTATUS=final commit", "EXTEND_TIMEOUT_USEC=30000000", "STOPPING=1"}) {
    const auto message = systemd.receive();
    ASSERT_TRUE(message) << "missing: " << expected;
    EXPECT_EQ(message->text, expected);
    EXPECT_EQ(message->sender, ::getpid());
  }
  EXPECT_FALSE(systemd.receive(50ms)) << "nothing more";
}

struct environment_guard {
  std::optional<std::string> saved;
  environment_guard() {
    if (const char* value = std::getenv("NOTIFY_SOCKET")) saved = value;
  }
  ~environment_guard() {
    if (saved) {
      ::setenv("NOTIFY_SOCKET", saved->c_str(), 1);
    } else {
      ::unsetenv("NOTIFY_SOCKET");
    }
  }
};

}  // namespace

TEST(ServiceNotifier, PathSocketGetsTheLifecycleInOrder) {
  temp_dir dir;
  expect_service_lifecycle((dir / "notify").string());
}

TEST(ServiceNotifier, AbstractSocketGetsTheLifecycleInOrder) { expect_service_lifecycle(abstract_name()); }

TEST(ServiceNotifier, FromEnvironment) {
  environment_guard guard;
  ::unsetenv("NOTIFY_SOCKET");
  auto unset = service_notifier::from_environment();
  EXPECT_FALSE(unset.enabled());
  EXPECT_EQ(unset.ready(), 0);
  EXPECT_EQ(unset.extend_timeout(1s), 0);
  ::setenv("NOTIFY_SOCKET", "", 1);
  EXPECT_FALSE(service_notifier::from_environment().enabled());

  const auto name = abstract_name();
  notify_listener systemd(name);
  ASSERT_TRUE(systemd.bound());
  ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  auto notifier = service_notifier::from_environment();
  EXPECT_TRUE(notifier.enabled());
  EXPECT_EQ(notifier.ready(), 0);
  const auto message = systemd.receive();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->text, "READY=1");
}

TEST(ServiceNotifier, StatusStaysOneLineAndBounded) {
  const auto name = abstract_name();
  notify_listener systemd(name);
  ASSERT_TRUE(systemd.bound());
  service_notifier notifier(name);
  EXPECT_EQ(notifier.status("first\nREADY=1\tx"), 0);
  EXPECT_EQ(systemd.receive()->text, "STATUS=first READY=1 x") << "no injected READY=1 line";
  EXPECT_EQ(notifier.status(std::string(5000, 's')), 0);
  EXPECT_EQ(systemd.receive()->text, "STATUS=" + std::string(service_notifier::kMaxStatus, 's'));
  EXPECT_EQ(notifier.notify("WATCHDOG=1\nSTATUS=x"), 0);
  EXPECT_EQ(systemd.receive()->text, "WATCHDOG=1\nSTATUS=x");
}

TEST(ServiceNotifier, AnyThreadSendsAsTheProcess) {
  const auto name = abstract_name();
  notify_listener systemd(name);
  ASSERT_TRUE(systemd.bound());
  service_notifier notifier(name);
  std::jthread committer([&] { EXPECT_EQ(notifier.status("from the commit thread"), 0); });
  committer.join();
  const auto message = systemd.receive();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->sender, ::getpid()) << "the process id, not the thread id";
}

TEST(ServiceNotifier, FailuresAreErrnoValuesNotExceptions) {
  temp_dir dir;
  service_notifier nobody_listens((dir / "missing").string());
  EXPECT_TRUE(nobody_listens.enabled());
  EXPECT_EQ(nobody_listens.ready(), ENOENT);
  service_notifier relative("relative/socket");
  EXPECT_EQ(relative.ready(), EINVAL);
  EXPECT_EQ(relative.extend_timeout(1s), EINVAL);
  service_notifier too_long("/" + std::string(200, 'x'));
  EXPECT_EQ(too_long.stopping(), EINVAL);
  EXPECT_EQ(service_notifier("vsock:2:1234").ready(), EINVAL);
  // A listener that went away: the notifier stays usable once it is back.
  const auto name = abstract_name();
  service_notifier notifier(name);
  EXPECT_EQ(notifier.ready(), ECONNREFUSED);
  notify_listener systemd(name);
  ASSERT_TRUE(systemd.bound());
  EXPECT_EQ(notifier.ready(), 0);
  EXPECT_EQ(systemd.receive()->text, "READY=1");
}
