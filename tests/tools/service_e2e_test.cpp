// The daemon as a Type=notify service: with NOTIFY_SOCKET set it reports
// READY=1 once mounted, STATUS= lines, and STOPPING=1 when SIGTERM starts the
// final commit, in that order and from its main pid (NotifyAccess=main).
#include "fs/daemon_process.hpp"
#include "operator_files.hpp"
#include "test_support.hpp"
#include "tools/notify_listener.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace sevenzfs::test;
using namespace std::chrono_literals;

TEST(ServiceE2e, ReadyStatusStoppingInOrder) {
  temp_dir dir;
  const auto mnt = dir / "mnt";
  fs::create_directories(mnt);
  const std::string socket = "@sevenzfs-service-e2e-" + std::to_string(::getpid());
  notify_listener systemd(socket);
  ASSERT_TRUE(systemd.bound());
  daemon_process daemon(dir / "a.7z", mnt, "level=1", dir / "log", {"NOTIFY_SOCKET=" + socket});
  ASSERT_TRUE(daemon.wait_mounted()) << daemon.log();

  std::vector<std::string> lines;
  auto next = [&](std::chrono::milliseconds timeout) {
    auto message = systemd.receive(timeout);
    if (message) {
      EXPECT_EQ(message->sender, daemon.pid()) << "from the main process: " << message->text;
      lines.push_back(message->text);
    }
    return message;
  };
  // A start that takes a second or more says what it does first, and that
  // it works.
  auto ready = next(5000ms);
  while (ready && ready->text.rfind("READY=1", 0) != 0) {
    EXPECT_TRUE(ready->text.starts_with("STATUS=starting: ") || ready->text.starts_with("EXTEND_TIMEOUT_USEC="))
        << ready->text;
    ready = next(5000ms);
  }
  ASSERT_TRUE(ready) << "no READY=1\n" << daemon.log();
  lines.clear();

  write_file(mnt / "f.bin", std::string(8u << 20, 'x'));
  ASSERT_EQ(run(ctl_binary() + " flush " + quote(mnt.string())).exit_code, 0);
  write_file(mnt / "g.bin", std::string(8u << 20, 'y'));
  daemon.send(SIGTERM);
  while (next(2000ms)) {
  }
  EXPECT_EQ(daemon.wait_exit(std::chrono::seconds(60)), 0) << daemon.log();

  // READY first; STATUS lines after it; STOPPING after those, and nothing
  // but STATUS / EXTEND_TIMEOUT_USEC after STOPPING.
  std::size_t status = 0;
  std::size_t stopping = lines.size();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find("STATUS=") != std::string::npos && stopping == lines.size()) ++status;
    if (lines[i].rfind("STOPPING=1", 0) == 0 && stopping == lines.size()) stopping = i;
  }
  std::string all;
  for (const auto& line : lines) all += line + " | ";
  EXPECT_GE(status, 1u) << all;
  ASSERT_LT(stopping, lines.size()) << "no STOPPING=1: " << all;
  for (std::size_t i = stopping + 1; i < lines.size(); ++i) {
    EXPECT_TRUE(lines[i].rfind("STATUS=", 0) == 0 || lines[i].rfind("EXTEND_TIMEOUT_USEC=", 0) == 0) << lines[i];
    EXPECT_EQ(lines[i].find("READY=1"), std::string::npos) << lines[i];
  }
}
