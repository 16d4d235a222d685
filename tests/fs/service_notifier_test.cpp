// sd_notify messages reach a socket the test reads, on a path and in the
// abstract namespace, in order, one line per status, from the process's pid
// (what NotifyAccess=main checks); without NOTIFY_SOCKET nothing is sent.
#include "fs/service_notifier.hpp"
#include "fs/service_status.hpp"

#include "test_support.hpp"
#include "tools/notify_listener.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

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

namespace {

// The messages that arrive within `span`.
std::vector<std::string> received_within(notify_listener& systemd, std::chrono::milliseconds span) {
  std::vector<std::string> texts;
  const auto end = std::chrono::steady_clock::now() + span;
  for (auto now = std::chrono::steady_clock::now(); now < end; now = std::chrono::steady_clock::now()) {
    const auto message = systemd.receive(std::chrono::duration_cast<std::chrono::milliseconds>(end - now));
    if (message) texts.push_back(message->text);
  }
  return texts;
}

std::size_t extensions(const std::vector<std::string>& texts) {
  return static_cast<std::size_t>(
      std::ranges::count_if(texts, [](const std::string& text) { return text.starts_with("EXTEND_TIMEOUT_USEC="); }));
}

std::string all(const std::vector<std::string>& texts) {
  std::string joined;
  for (const auto& text : texts) joined += text + " | ";
  return joined;
}

// A notify socket standing in for systemd, and a CPU clock that gives a
// core's worth of time per look while `busy`.
struct ServiceStatus : ::testing::Test {
  std::string name = abstract_name();
  notify_listener systemd{name};
  service_notifier notifier{name};
  std::atomic<bool> busy{true};
  std::atomic<std::int64_t> cpu_ms{0};
  sevenzfs::fs::service_status::cpu_clock cpu_time = [this]() -> std::chrono::nanoseconds {
    return std::chrono::milliseconds(busy ? cpu_ms += 1000 : cpu_ms.load());
  };
  void SetUp() override { ASSERT_TRUE(systemd.bound()); }
};

}  // namespace

// While starting and while stopping, the timeout is extended as long as the
// daemon works — its status changes or it uses CPU (a long part of a solid
// folder changes no figure for minutes) — and not once it stalls; while
// running, never.
TEST_F(ServiceStatus, TimeoutsAreExtendedWhileTheDaemonWorksAndNotWhenItStalls) {
  sevenzfs::fs::service_status status(notifier, "starting: committing a.7z.recovery.7z", cpu_time);

  auto texts = received_within(systemd, 3500ms);
  EXPECT_GE(extensions(texts), 3u) << "busy while starting, the same status: " << all(texts);
  EXPECT_NE(all(texts).find("STATUS=starting: committing a.7z.recovery.7z"), std::string::npos) << all(texts);

  status.set_source([] { return std::string("3 files staged"); });
  status.ready();
  texts = received_within(systemd, 2500ms);
  ASSERT_FALSE(texts.empty());
  EXPECT_EQ(texts.front(), "READY=1\nSTATUS=3 files staged");
  EXPECT_EQ(extensions(texts), 0u) << "no timeout runs while mounted: " << all(texts);

  status.stopping();
  texts = received_within(systemd, 3500ms);
  EXPECT_GE(extensions(texts), 3u) << "busy while stopping, the same status: " << all(texts);

  busy = false;
  (void)received_within(systemd, 1500ms);  // the look that still saw work
  texts = received_within(systemd, 3000ms);
  EXPECT_EQ(extensions(texts), 0u) << "stalled: the timeout runs out " << all(texts);
}

// Asked to stop (a SIGTERM marks the FUSE session exited) while a request
// still runs (a flush's commit, which the loop waits for): STOPPING=1 and
// extensions begin at the next look, not once the loop ends; the daemon's
// own stopping() then sends no second STOPPING=1, and the probe is no
// longer asked (it may not outlive the loop).
TEST_F(ServiceStatus, AStopAskedWhileARequestRunsIsToldBeforeTheLoopEnds) {
  sevenzfs::fs::service_status status(notifier, "mounted", cpu_time);
  std::atomic<bool> asked{false};
  std::atomic<int> probes{0};
  status.set_source([] { return std::string("committing 10.0 %"); });
  status.ready([&] {
    ++probes;
    return asked.load();
  });
  auto texts = received_within(systemd, 1500ms);
  EXPECT_EQ(all(texts).find("STOPPING=1"), std::string::npos) << all(texts);
  EXPECT_EQ(extensions(texts), 0u) << all(texts);
  EXPECT_GE(probes.load(), 1);

  asked = true;
  texts = received_within(systemd, 2500ms);
  EXPECT_NE(all(texts).find("STOPPING=1\nSTATUS=committing 10.0 %"), std::string::npos) << all(texts);
  EXPECT_GE(extensions(texts), 2u) << "working while the commit runs: " << all(texts);

  status.stopping();
  const int probes_at_stop = probes.load();
  texts = received_within(systemd, 1500ms);
  EXPECT_EQ(all(texts).find("STOPPING=1"), std::string::npos) << "sent once: " << all(texts);
  EXPECT_GE(extensions(texts), 1u) << all(texts);
  EXPECT_EQ(probes.load(), probes_at_stop);
}
