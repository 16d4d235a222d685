// Through real mounts: nothing acknowledged is lost — one archive, one
// daemon, also through a symlink or a hard link; a name the archive cannot hold is refused at the door; names an
// existing archive holds that the mount cannot show do not sink commits;
// what crashed writers left is cleaned up; many files spilled at once do
// not run the daemon out of descriptors; stray signals and the file size
// limit do not kill it.
#include "mount_fixture.hpp"
#include "sample_bytes.hpp"

#include "archive/archive_writer.hpp"
#include "archive/archive_reader.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

namespace fs = std::filesystem;
using namespace sevenzfs::test;

TEST_F(mount_fixture, ASecondDaemonOnTheSameArchiveIsRefusedAndNamesTheFirst) {
  auto first = mount();
  write_file(mnt / "mine.txt", "first daemon's file\n");
  const auto other = dir / "other";
  fs::create_directories(other);
  daemon_process second(archive, other, "", dir / "second.log");
  EXPECT_FALSE(second.wait_mounted(std::chrono::seconds(5)));
  EXPECT_EQ(second.wait_exit(std::chrono::seconds(10)), 3);
  EXPECT_NE(second.log().find("pid " + std::to_string(first->pid())), std::string::npos) << second.log();
  ASSERT_EQ(first->unmount_and_wait(), 0) << first->log();
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " mine.txt").output, "first daemon's file\n");
}

// Through a symlink to the archive, the same: one archive, one lock.
TEST_F(mount_fixture, ASecondDaemonThroughASymlinkToTheArchiveIsRefused) {
  auto first = mount();
  write_file(mnt / "mine.txt", "first daemon's file\n");
  const auto link = dir / "link.7z";
  fs::create_symlink(archive.filename(), link);
  const auto other = dir / "other";
  fs::create_directories(other);
  daemon_process second(link, other, "", dir / "second.log");
  EXPECT_FALSE(second.wait_mounted(std::chrono::seconds(5)));
  EXPECT_EQ(second.wait_exit(std::chrono::seconds(10)), 3) << second.log();
  ASSERT_EQ(first->unmount_and_wait(), 0) << first->log();
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " mine.txt").output, "first daemon's file\n");
}

// A hard link has a lock file of its own (named after its path), but the
// archive file is one: a second daemon through it is refused.
TEST_F(mount_fixture, ASecondDaemonThroughAHardLinkToTheArchiveIsRefused) {
  ASSERT_EQ(run("7zz a -bd " + quote(archive.string()) + " /etc/hostname >/dev/null").exit_code, 0);
  auto first = mount();
  write_file(mnt / "mine.txt", "first daemon's file\n");
  const auto elsewhere = dir / "elsewhere";
  fs::create_directories(elsewhere);
  fs::create_hard_link(archive, elsewhere / "link.7z");
  const auto other = dir / "other";
  fs::create_directories(other);
  daemon_process second(elsewhere / "link.7z", other, "", dir / "second.log");
  EXPECT_FALSE(second.wait_mounted(std::chrono::seconds(5)));
  EXPECT_EQ(second.wait_exit(std::chrono::seconds(10)), 3) << second.log();
  EXPECT_NE(second.log().find("under another name"), std::string::npos) << second.log();
  ASSERT_EQ(first->unmount_and_wait(), 0) << first->log();
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " mine.txt").output, "first daemon's file\n");
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " hostname").exit_code, 0);
}

// The lock follows the archive when a commit makes a new file of it: the
// first commit creates it, a compaction writes it anew.
TEST_F(mount_fixture, TheArchiveFileStaysLockedWhenACommitCreatesItOrWritesItAnew) {
  auto first = mount("mode=batched,compact_at=0");
  const auto other = dir / "other";
  fs::create_directories(other);
  const auto try_second = [&](const fs::path& link, const std::string& log_name) {
    fs::create_hard_link(archive, link);
    daemon_process second(link, other, "", dir / log_name);
    EXPECT_FALSE(second.wait_mounted(std::chrono::seconds(5)));
    EXPECT_EQ(second.wait_exit(std::chrono::seconds(10)), 3) << second.log();
  };
  write_file(mnt / "kept", std::string(300000, 'k'));
  ASSERT_EQ(run("sync " + quote((mnt / "kept").string())).exit_code, 0);
  ASSERT_TRUE(fs::exists(archive));
  try_second(dir / "created.7z", "created.log");

  run("head -c 300000 /dev/urandom > " + quote((mnt / "removed").string()));
  ASSERT_EQ(run("sync " + quote((mnt / "removed").string())).exit_code, 0);
  fs::remove(mnt / "removed");
  ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.compact", "1", 1, 0), 0) << first->log();
  struct stat old_file {};
  struct stat new_file {};
  ASSERT_EQ(::stat((dir / "created.7z").c_str(), &old_file), 0);
  ASSERT_EQ(::stat(archive.c_str(), &new_file), 0);
  ASSERT_NE(old_file.st_ino, new_file.st_ino) << "the compaction wrote the archive anew";
  try_second(dir / "compacted.7z", "compacted.log");

  write_file(mnt / "last", "after the compaction\n");
  ASSERT_EQ(first->unmount_and_wait(), 0) << first->log();
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " last").output, "after the compaction\n");
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " kept").output, std::string(300000, 'k'));
  EXPECT_EQ(run("7zz t " + quote(archive.string()) + " >/dev/null 2>&1").exit_code, 0);
}

// A symlink whose target does not exist yet: the archive is created there,
// and the symlink stays.
// `sevenzfs $(mktemp --suffix .7z) mnt`: the empty file is a new archive,
// which the first commit writes in its place.
TEST_F(mount_fixture, AnEmptyFileIsMountedAsANewArchive) {
  write_file(archive, "");
  auto daemon = mount();
  write_file(mnt / "a.txt", "into an empty file\n");
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " a.txt").output, "into an empty file\n");
}

TEST_F(mount_fixture, AnArchiveIsCreatedWhereADanglingSymlinkPoints) {
  const auto link = dir / "link.7z";
  fs::create_symlink("target.7z", link);
  daemon_process daemon(link, mnt, "", log);
  ASSERT_TRUE(daemon.wait_mounted(std::chrono::seconds(10))) << daemon.log();
  write_file(mnt / "a.txt", "through the link\n");
  ASSERT_EQ(daemon.unmount_and_wait(), 0) << daemon.log();
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(run("7zz e -so " + quote((dir / "target.7z").string()) + " a.txt").output, "through the link\n");
}

TEST_F(mount_fixture, AMountRightAfterAnUnmountWaitsForTheLastCommitWithWaitLock) {
  auto first = mount("threads=1");
  // Enough data that the final commit takes a moment after fusermount3 returns.
  run("head -c 6000000 /dev/urandom > " + quote((mnt / "big.bin").string()));
  write_file(mnt / "a.txt", "first mount\n");
  run("fusermount3 -u " + quote(mnt.string()));
  daemon_process second(archive, mnt, "wait_lock", dir / "second.log");
  ASSERT_TRUE(second.wait_mounted(std::chrono::seconds(120))) << second.log();
  EXPECT_NE(second.log().find("waiting for it"), std::string::npos) << second.log();
  EXPECT_EQ(first->wait_exit(), 0) << first->log();
  write_file(mnt / "b.txt", "second mount\n");
  ASSERT_EQ(second.unmount_and_wait(), 0) << second.log();
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " a.txt").output, "first mount\n");
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " b.txt").output, "second mount\n");
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
}

TEST_F(mount_fixture, AMountpointThatIsAlreadyMountedOrNotEmptyIsRefused) {
  auto first = mount();
  daemon_process stacked(dir / "other.7z", mnt, "", dir / "stacked.log");
  EXPECT_EQ(stacked.wait_exit(std::chrono::seconds(10)), 4);
  EXPECT_NE(stacked.log().find("already a sevenzfs mount"), std::string::npos) << stacked.log();
  ASSERT_EQ(first->unmount_and_wait(), 0);

  const auto full = dir / "full";
  fs::create_directories(full);
  write_file(full / "hidden.txt", "x");
  daemon_process refused(dir / "other.7z", full, "", dir / "refused.log");
  EXPECT_EQ(refused.wait_exit(std::chrono::seconds(10)), 4);
  EXPECT_NE(refused.log().find("not empty"), std::string::npos) << refused.log();
  daemon_process allowed(dir / "other.7z", full, "nonempty", dir / "allowed.log");
  ASSERT_TRUE(allowed.wait_mounted()) << allowed.log();
  EXPECT_EQ(allowed.unmount_and_wait(), 0);

  daemon_process missing(dir / "other.7z", dir / "nowhere", "", dir / "missing.log");
  EXPECT_EQ(missing.wait_exit(std::chrono::seconds(10)), 4);
  EXPECT_NE(missing.log().find("does not exist"), std::string::npos) << missing.log();
}

TEST_F(mount_fixture, ANameTheArchiveCannotHoldIsRefusedAndTheRestIsCommitted) {
  auto daemon = mount();
  write_file(mnt / "good1.txt", "x\n");
  const auto bad = run("cp /etc/hostname " + quote((mnt / "caf\xe9.txt").string()));
  EXPECT_NE(bad.exit_code, 0) << "the name is refused when it is created";
  EXPECT_NE(bad.output.find("Invalid or incomplete multibyte"), std::string::npos) << bad.output;  // EILSEQ
  write_file(mnt / "good2.txt", "y\n");
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  EXPECT_NE(daemon->log().find("caf\\xe9.txt"), std::string::npos) << "one log line names it: " << daemon->log();
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " good1.txt").output, "x\n");
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " good2.txt").output, "y\n");
}

TEST_F(mount_fixture, OddNamesAreShownInsideTheMountAndStoredAsShown) {
  // An archive (as 7zz -si and other writers make them) with entries named
  // "..", absolute, empty, and ending in '/'.
  namespace ar = sevenzfs::archive;
  std::vector<ar::entry> odd;
  for (const std::string name : {"..", "/etc/evil", "", "dir/", "fine.txt"}) {
    ar::entry e;
    e.path = name;
    e.mode = 0644;
    e.mtime = {1'700'000'000, 0};
    e.size = 4;
    e.content = std::make_shared<ar::memory_content>(std::string_view("data"));
    odd.push_back(std::move(e));
  }
  ar::create_archive(archive.string(), {}, odd, {});
  auto daemon = mount();
  // Every entry is shown, inside the mount: ".." has no name left; an empty
  // name is the archive's own name, as 7-Zip shows nameless entries.
  for (const char* shown : {"fine.txt", "etc/evil", "dir", "unnamed", "archive"}) {
    EXPECT_EQ(read_file(mnt / shown), "data") << shown;
  }
  write_file(mnt / "new.txt", "added\n");
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  EXPECT_NE(daemon->log().find("entry '/etc/evil' is shown as 'etc/evil': it is not a plain relative path"),
            std::string::npos)
      << daemon->log();
  EXPECT_NE(daemon->log().find("entry '..' is shown as 'unnamed': it has no name"), std::string::npos) << daemon->log();
  // The commit stored the names shown: every extractor now agrees, asks nothing.
  const auto on_disk = ar::read_archive(archive.string());
  EXPECT_EQ(on_disk.db.substream_sizes.size(), 6u) << "nothing the archive held is lost";
  ASSERT_EQ(run("cd " + quote(dir.path().string()) + " && 7zz x -bd -y -ox " + quote(archive.string()) + " >/dev/null")
                .exit_code,
            0);
  for (const char* stored : {"fine.txt", "etc/evil", "dir", "unnamed", "archive"}) {
    EXPECT_EQ(read_file(dir / "x" / stored), "data") << stored;
  }
  EXPECT_EQ(read_file(dir / "x" / "new.txt"), "added\n");
  EXPECT_FALSE(fs::exists(dir / "etc")) << "nothing escaped the mount";
}

TEST_F(mount_fixture, WhatCrashedWritersLeftIsRemovedAtTheNextMount) {
  {
    auto daemon = mount();
    write_file(mnt / "a.txt", "a\n");
    ASSERT_EQ(daemon->unmount_and_wait(), 0);
  }
  for (const std::string leftover : {".tmp-Ab12Cd", ".pending.tmp-Xy98Zw", ".spill.tmp-Qq11Rr"}) {
    write_file(archive.string() + leftover, std::string(100000, 'z'));
  }
  write_file(archive.string() + ".notes", "not ours: stays");
  auto daemon = mount();
  ASSERT_EQ(daemon->unmount_and_wait(), 0);
  std::vector<std::string> beside;
  for (const auto& item : fs::directory_iterator(dir.path())) beside.push_back(item.path().filename().string());
  std::sort(beside.begin(), beside.end());
  EXPECT_EQ(join(beside), "archive.7z\narchive.7z.notes\ndaemon.log\nmnt\n") << "the lock file goes too";
  EXPECT_NE(daemon->log().find("left behind by a sevenzfs that ended without cleaning up"), std::string::npos)
      << daemon->log();
}

TEST_F(mount_fixture, AFullDiskIsReportedAsEnospcAndNothingIsLost) {
  // The archive lives on a 2 MiB tmpfs that a filler file nearly fills.
  small_tmpfs small(dir / "small", "2m");
  ASSERT_TRUE(small.mounted());
  const auto small_archive = small / "a.7z";
  daemon_process daemon(small_archive, mnt, "level=0", log);
  ASSERT_TRUE(daemon.wait_mounted()) << daemon.log();
  write_file(mnt / "first.txt", "committed before the disk filled\n");
  ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0) << errno;
  write_file(small / "filler", std::string(1800u << 10, 'f'));

  const std::string payload(600u << 10, 'p');
  const int fd = ::open((mnt / "payload.bin").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, payload.data(), payload.size()), static_cast<ssize_t>(payload.size()));
  EXPECT_EQ(::fsync(fd), -1);
  EXPECT_EQ(errno, ENOSPC) << "the writer learns the truth, not a generic EIO";
  EXPECT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), -1);
  EXPECT_EQ(errno, ENOSPC);
  EXPECT_EQ(read_file(mnt / "payload.bin"), payload) << "staged data stays staged";
  EXPECT_NE(xattr(mnt, "user.sevenzfs.last_error").find("No space left"), std::string::npos);

  fs::remove(small / "filler");
  EXPECT_EQ(::fsync(fd), 0) << "the next commit after freeing space succeeds";
  ::close(fd);
  ASSERT_EQ(daemon.unmount_and_wait(), 0) << daemon.log();
  EXPECT_EQ(run("7zz t " + quote(small_archive.string())).exit_code, 0);
  EXPECT_EQ(run("7zz e -so " + quote(small_archive.string()) + " payload.bin").output, payload);
  EXPECT_EQ(run("7zz e -so " + quote(small_archive.string()) + " first.txt").output,
            "committed before the disk filled\n");
}

// SIGUSR1 commits as a flush does; other signals that would end the daemon
// by default, without its final commit, are logged and ignored.
TEST_F(mount_fixture, Sigusr1CommitsAndStraySignalsLoseNothing) {
  auto daemon = mount("settle=60");  // nothing reaches the archive unless something commits
  write_file(mnt / "a.txt", "committed on SIGUSR1\n");
  daemon->send(SIGUSR1);
  EXPECT_TRUE(eventually([&] { return xattr(mnt, "user.sevenzfs.commits_total") == "1"; }, std::chrono::seconds(30)))
      << daemon->log();
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " a.txt").output, "committed on SIGUSR1\n");
  for (const int signal : {SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPWR}) daemon->send(signal);
  write_file(mnt / "b.txt", "written after the stray signals\n");
  EXPECT_TRUE(eventually([&] { return daemon->log().find("ignored SIGPWR") != std::string::npos; })) << daemon->log();
  EXPECT_NE(daemon->log().find("ignored SIGUSR2"), std::string::npos) << daemon->log();
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " b.txt").output, "written after the stray signals\n");
}

// Past the file size limit (RLIMIT_FSIZE) a commit fails with EFBIG and
// keeps what is staged; SIGXFSZ would have killed the daemon and lost it.
// Once the limit is raised and a commit succeeds, streaming resumes.
TEST_F(mount_fixture, ACommitPastTheFileSizeLimitFailsAndLosesNothing) {
  auto daemon = mount("level=0");
  rlimit small{64 << 10, RLIM_INFINITY};
  ASSERT_EQ(::prlimit(daemon->pid(), RLIMIT_FSIZE, &small, nullptr), 0) << errno;
  const std::string payload = random_bytes(300 << 10, 7);
  write_file(mnt / "big.bin", payload);
  write_file(mnt / "small.txt", "small\n");
  // A settle after its close the file goes to the compressor, whose pending
  // file outgrows the limit first.
  EXPECT_TRUE(eventually([&] { return daemon->log().find("streaming compression stopped") != std::string::npos; }))
      << daemon->log();
  EXPECT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), -1);
  EXPECT_EQ(errno, EFBIG);
  EXPECT_NE(xattr(mnt, "user.sevenzfs.last_error").find("too large"), std::string::npos);
  EXPECT_EQ(read_file(mnt / "big.bin"), payload) << "staged data stays staged";

  const rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  ASSERT_EQ(::prlimit(daemon->pid(), RLIMIT_FSIZE, &unlimited, nullptr), 0) << errno;
  // Open for writing through the commit, without a write: archived all the
  // same, not held back as still compressing.
  const int fd = ::open((mnt / "big.bin").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << errno;
  EXPECT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0) << errno;
  EXPECT_EQ(xattr(mnt / "big.bin", "user.sevenzfs.state").substr(0, 19), R"({"state":"archived")");
  ::close(fd);
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.commit_pending_bytes"), "0")
      << "what the failed compressor was handed is committed, not pending";
  // Everything it was handed is committed: streaming starts again, and a
  // file closed now is compressed while the mount goes on.
  EXPECT_TRUE(eventually([&] { return daemon->log().find("streaming compression resumed") != std::string::npos; }))
      << daemon->log();
  const std::string later = random_bytes(200 << 10, 8);
  write_file(mnt / "later.bin", later);
  EXPECT_TRUE(eventually([&] {
    return xattr(mnt / "later.bin", "user.sevenzfs.state").find(R"("compressed")") != std::string::npos;
  })) << xattr(mnt / "later.bin", "user.sevenzfs.state");
  EXPECT_EQ(read_file(mnt / "later.bin"), later) << "from the new compressor's pending copy";
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " big.bin").output, payload);
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " small.txt").output, "small\n");
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " later.bin").output, later);
}

TEST_F(mount_fixture, TheUnmountControlCommitsEverythingThenUnmountsAndExits) {
  auto daemon = mount();
  const int fd = ::open((mnt / "open.txt").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "still open\n", 11), 11);
  ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.unmount", "1", 1, 0), 0) << errno;
  EXPECT_EQ(::write(fd, "late", 4), -1) << "nothing slips in after the final commit";
  EXPECT_EQ(errno, EROFS);
  ::close(fd);
  EXPECT_EQ(daemon->wait_exit(std::chrono::seconds(30)), 0) << daemon->log();
  EXPECT_FALSE(is_mounted(mnt));
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " open.txt").output, "still open\n");
}

namespace {

// `write DIR N`: opens N files in DIR, writes 512 KiB into each, 64 KiB at a
// time, all of them open until the end; `check DIR N`: prints "ok" when DIR
// holds them as written.
const std::string kManyOpenFiles =
    "import os, sys\n"
    "mode, where, n = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
    "def chunk(i, k):\n"
    "    line = b'file %04d chunk %02d\\n' % (i, k)\n"
    "    return (line * (65536 // len(line) + 1))[:65536]\n"
    "if mode == 'write':\n"
    "    files = [open(os.path.join(where, 'f%04d' % i), 'wb', buffering=0) for i in range(n)]\n"
    "    for k in range(8):\n"
    "        for i, f in enumerate(files):\n"
    "            f.write(chunk(i, k))\n"
    "    for f in files: f.close()\n"
    "else:\n"
    "    for i in range(n):\n"
    "        with open(os.path.join(where, 'f%04d' % i), 'rb') as f:\n"
    "            if f.read() != b''.join(chunk(i, k) for k in range(8)): sys.exit('f%04d differs' % i)\n"
    "    print('ok')\n";

std::string many_open_files(const std::string& mode, const std::filesystem::path& where, int files) {
  return "/usr/bin/python3 -c " + quote(kManyOpenFiles) + " " + mode + " " + quote(where.string()) + " " +
         std::to_string(files);
}

// "Max open files" soft and hard limits of a process.
std::optional<std::pair<std::string, std::string>> open_file_limits(pid_t pid) {
  std::ifstream limits("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(limits, line)) {
    if (!line.starts_with("Max open files")) continue;
    std::istringstream fields(line.substr(std::string("Max open files").size()));
    std::string soft, hard;
    if (fields >> soft >> hard) return std::pair{soft, hard};
  }
  return std::nullopt;
}

}  // namespace

// A file that outgrows the pool while open keeps a spill file open until it
// is compressed: 200 files written at once through a 1 MiB pool spill nearly
// all. Started with a soft limit of 64 open files (systemd's default is
// 1,024), the daemon raises it to the hard limit, and nothing fails.
TEST_F(mount_fixture, ManyFilesSpilledAtOnceDoNotRunOutOfDescriptors) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max < 1024) GTEST_SKIP() << "a hard limit of " << saved.rlim_max << " open files shows nothing";
  rlimit low = saved;
  low.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  auto daemon = std::make_unique<daemon_process>(archive, mnt, "pool_size=1M", log);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);  // the daemon has the low one
  ASSERT_TRUE(daemon->wait_mounted()) << read_file(log);
  const auto limits = open_file_limits(daemon->pid());
  ASSERT_TRUE(limits.has_value());
  EXPECT_NE(limits->first, "64");
  EXPECT_EQ(limits->first, limits->second) << "soft and hard limits of the daemon's open files";

  constexpr int kFiles = 200;
  const auto wrote = run(many_open_files("write", mnt, kFiles));
  ASSERT_EQ(wrote.exit_code, 0) << wrote.output << read_file(log);
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << read_file(log);
  extract_all("out");
  const auto checked = run(many_open_files("check", dir / "out", kFiles));
  EXPECT_EQ(checked.output, "ok\n") << read_file(log);
}

// A commit that cannot keep the archive open to read it (descriptors ran
// out) fails before its commit point: the archive stays as the last commit
// left it, and the next commit writes what the failed one would have, with
// what came after. Each file is there once, with its content.
TEST_F(mount_fixture, ACommitThatCannotKeepTheArchiveOpenLosesNothing) {
  daemon_process daemon(archive, mnt, "mode=batched", log, {"SEVENZFS_TEST_REFUSE_READER=2"});
  ASSERT_TRUE(daemon.wait_mounted()) << daemon.log();
  write_file(mnt / "a.txt", "removed later\n");
  write_file(mnt / "c.txt", "committed first\n");
  ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0) << std::strerror(errno);
  const auto listed = [&] {
    return run("7zz l -ba -slt " + quote(archive.string()) + " | grep '^Path = ' | sort").output;
  };
  EXPECT_EQ(listed(), "Path = a.txt\nPath = c.txt\n");
  // The second commit drops a.txt and so writes the archive anew: refused.
  fs::remove(mnt / "a.txt");
  write_file(mnt / "b.txt", "refused first\n");
  EXPECT_NE(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0) << "the second commit is refused";
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  EXPECT_EQ(listed(), "Path = a.txt\nPath = c.txt\n");
  EXPECT_EQ(read_file(mnt / "b.txt"), "refused first\n");
  write_file(mnt / "d.txt", "written last\n");
  EXPECT_EQ(daemon.unmount_and_wait(), 0) << daemon.log();
  const std::string said = daemon.log();
  EXPECT_NE(said.find("cannot keep the archive open"), std::string::npos) << said;
  EXPECT_FALSE(fs::exists(archive.string() + ".recovery.7z"));
  for (const auto& left : fs::directory_iterator(archive.parent_path())) {
    EXPECT_EQ(left.path().filename().string().find(".tmp-"), std::string::npos) << left.path();
  }
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  EXPECT_EQ(listed(), "Path = b.txt\nPath = c.txt\nPath = d.txt\n");
  for (const auto& [name, text] : {std::pair{"b.txt", "refused first\n"}, std::pair{"c.txt", "committed first\n"},
                                   std::pair{"d.txt", "written last\n"}}) {
    EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " " + name).output, text) << name;
  }
}

// After a commit written but not published, the file holds what the
// snapshot does not: a later commit whose tree matches the snapshot (the
// directory and empty file that commit added are removed again: nothing the
// compressor still holds) must fail like every other, not pass for done
// while the archive keeps them.
TEST_F(mount_fixture, AfterACommitThatCannotPublishNoCommitPassesForDone) {
  daemon_process daemon(archive, mnt, "mode=batched", log, {"SEVENZFS_TEST_FAIL_PUBLISH=2"});
  ASSERT_TRUE(daemon.wait_mounted()) << daemon.log();
  write_file(mnt / "c.txt", "committed first\n");
  ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0) << std::strerror(errno);
  fs::create_directory(mnt / "scratch");
  write_file(mnt / "empty.lock", "");
  EXPECT_NE(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0) << "the second commit cannot publish";
  fs::remove(mnt / "scratch");
  fs::remove(mnt / "empty.lock");
  EXPECT_NE(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0) << "a commit passed for done";
  EXPECT_EQ(daemon.unmount_and_wait(), 1) << daemon.log();
}

// A commit written whose snapshot cannot be published (memory, after the
// commit point) stops the commits after it: they would number kept streams
// as the state before it does. The unmount keeps what is staged in the
// recovery archive, and the next mount commits it. Each file is there once,
// with its content.
TEST_F(mount_fixture, ACommitThatCannotPublishItsSnapshotLosesNothing) {
  {
    // The first commit publishes; the second, which drops a.txt and so
    // writes the archive anew, cannot.
    daemon_process daemon(archive, mnt, "mode=batched", log, {"SEVENZFS_TEST_FAIL_PUBLISH=2"});
    ASSERT_TRUE(daemon.wait_mounted()) << daemon.log();
    write_file(mnt / "a.txt", "removed later\n");
    write_file(mnt / "c.txt", "committed first\n");
    ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0) << std::strerror(errno);
    fs::remove(mnt / "a.txt");
    write_file(mnt / "b.txt", "committed unpublished\n");
    EXPECT_NE(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0) << "the second commit cannot publish";
    write_file(mnt / "d.txt", "written last\n");
    EXPECT_EQ(daemon.unmount_and_wait(), 1) << daemon.log();
    const std::string said = daemon.log();
    EXPECT_NE(said.find("until it is mounted again"), std::string::npos) << said;
  }
  const auto recovery = fs::path(archive.string() + ".recovery.7z");
  ASSERT_TRUE(fs::exists(recovery)) << read_file(log);
  {
    daemon_process daemon(archive, mnt, "", log);
    ASSERT_TRUE(daemon.wait_mounted()) << daemon.log();
    EXPECT_FALSE(fs::exists(recovery));
    EXPECT_EQ(daemon.unmount_and_wait(), 0) << daemon.log();
  }
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  const std::string listed = run("7zz l -ba -slt " + quote(archive.string()) + " | grep '^Path = ' | sort").output;
  EXPECT_EQ(listed, "Path = b.txt\nPath = c.txt\nPath = d.txt\n");
  for (const auto& [name, text] : {std::pair{"b.txt", "committed unpublished\n"},
                                   std::pair{"c.txt", "committed first\n"}, std::pair{"d.txt", "written last\n"}}) {
    EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " " + name).output, text) << name;
  }
}
