// kill -9 at random moments around commits, round after round on one
// archive: after each, 7zz t passes, every acknowledged file (its fsync
// returned 0) is in the archive with its content, the next mount removes
// what the dead daemon left beside the archive, and appends.
#include "mount_fixture.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

namespace fs = std::filesystem;
using namespace sevenzfs::test;

namespace {

std::string content_of(int round, int file) {
  std::string text = fmt::format("round {} file {}\n", round, file);
  while (text.size() < static_cast<std::size_t>(2000 + (round * 7919 + file * 104729) % 60000)) text += text;
  return text;
}

bool write_and_fsync(const fs::path& path, const std::string& text, bool sync) {
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0) return false;
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool synced = written && (!sync || ::fsync(fd) == 0);
  ::close(fd);
  return synced;
}

std::vector<std::string> leftovers_beside(const fs::path& archive) {
  std::vector<std::string> found;
  for (const auto& item : fs::directory_iterator(archive.parent_path())) {
    const auto name = item.path().filename().string();
    if (name.find(".tmp-") != std::string::npos) found.push_back(name);
  }
  return found;
}

}  // namespace

TEST_F(mount_fixture, KillNineAtRandomMomentsLosesNothingAcknowledged) {
  constexpr int kRounds = 50;
  std::mt19937 rng(20261125);
  std::map<std::string, std::string> acknowledged;  // path in the archive -> content
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(round);
    daemon_process daemon(archive, mnt, round % 3 == 0 ? "mode=batched,level=1" : "level=1", log);
    ASSERT_TRUE(daemon.wait_mounted()) << daemon.log();
    ASSERT_EQ(join(leftovers_beside(archive)), "") << "the mount removed what the last daemon left";
    // A writer makes files and fsyncs some (those are acknowledged); the
    // daemon dies at a random moment, often inside a commit.
    std::atomic<bool> stop{false};
    std::map<std::string, std::string> acknowledged_now;
    std::thread writer([&] {
      for (int file = 0; !stop; ++file) {
        const std::string name = fmt::format("r{:02}-f{:03}.txt", round, file);
        const auto text = content_of(round, file);
        const bool sync = file % 4 == 3;
        if (!write_and_fsync(mnt / name, text, sync)) break;  // the daemon is gone
        if (sync) acknowledged_now[name] = text;
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 400));
    daemon.send(SIGKILL);
    EXPECT_EQ(daemon.wait_exit(std::chrono::seconds(10)), 128 + SIGKILL);
    run("fusermount3 -u -z " + quote(mnt.string()));
    stop = true;
    writer.join();
    acknowledged.insert(acknowledged_now.begin(), acknowledged_now.end());
    if (!fs::exists(archive)) {
      ASSERT_TRUE(acknowledged.empty()) << "files were acknowledged but no archive exists";
      continue;
    }
    const auto tested = run("7zz t " + quote(archive.string()));
    ASSERT_EQ(tested.exit_code, 0) << tested.output;
    for (const auto& [name, text] : acknowledged_now) {
      ASSERT_EQ(run("7zz e -so " + quote(archive.string()) + " " + quote(name)).output, text) << name;
    }
  }
  // Everything acknowledged in any round is still there, once each.
  const auto extracted = dir / "x";
  ASSERT_EQ(run("7zz x -y -o" + quote(extracted.string()) + " " + quote(archive.string())).exit_code, 0);
  for (const auto& [name, text] : acknowledged) EXPECT_EQ(read_file(extracted / name), text) << name;
  EXPECT_GT(acknowledged.size(), 20u) << "the harness acknowledged too little to prove anything";
  // A last clean mount appends and leaves nothing beside the archive.
  auto daemon = mount();
  write_file(mnt / "after.txt", "after the crashes\n");
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " after.txt").output, "after the crashes\n");
  EXPECT_EQ(join(leftovers_beside(archive)), "");
}
