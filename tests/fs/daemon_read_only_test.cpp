// Through real mounts: -o ro shows an archive and writes nothing, neither it
// nor anything beside it, also where its directory is read-only; read-only
// mounts share an archive and keep writable ones out, and the other way
// round; sevenzfs-ctl's controls answer as a read-only mount can.
#include "mount_fixture.hpp"

#include "fs/recovery.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace sevenzfs::test;

namespace {

std::string ctl(const std::string& arguments, int* exit_code = nullptr) {
  const auto result = run(std::string(SEVENZFS_CTL_BINARY) + " " + arguments);
  if (exit_code != nullptr) *exit_code = result.exit_code;
  return result.output;
}

// The names in `directory`, sorted.
std::vector<std::string> names_in(const fs::path& directory) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory)) names.push_back(entry.path().filename().string());
  std::ranges::sort(names);
  return names;
}

struct read_only_fixture : mount_fixture {
  fs::path tree = dir / "tree";

  // An archive of a small tree, written by 7-Zip, with bytes after its
  // header that a writable mount would trim.
  void SetUp() override {
    mount_fixture::SetUp();
    if (IsSkipped()) return;
    fs::create_directories(tree / "sub");
    write_file(tree / "a.txt", "first file\n");
    write_file(tree / "sub" / "b.txt", std::string(100000, 'b'));
    ASSERT_EQ(
        run("cd " + quote(tree.string()) + " && 7zz a -bd " + quote(archive.string()) + " . >/dev/null").exit_code, 0);
    std::string bytes = read_file(archive);
    write_file(archive, bytes + std::string(4096, '\0'));
  }

  // A second (third) mountpoint beside the fixture's.
  fs::path another_mountpoint(const std::string& name) const {
    const fs::path made = dir / name;
    fs::create_directories(made);
    return made;
  }

  // The errno of a call that returned `result`, 0 when it succeeded.
  static int error_of(int result) { return result == 0 ? 0 : errno; }
};

}  // namespace

TEST_F(read_only_fixture, ShowsTheArchiveRefusesEveryChangeAndWritesNothing) {
  const std::string before = read_file(archive);
  struct stat archive_before {};
  ASSERT_EQ(::stat(archive.c_str(), &archive_before), 0);
  // What a crashed writer left, which a writable mount would remove.
  write_file(archive.string() + ".tmp-a1b2c3", "a temporary archive");
  write_file(archive.string() + ".spill.tmp-d4e5f6", "a spill file");
  write_file(log, "");
  const auto beside = names_in(dir.path());
  auto daemon = mount("ro");
  EXPECT_FALSE(fs::exists(archive.string() + ".lock"));
  EXPECT_EQ(run("diff -r " + quote(tree.string()) + " " + quote(mnt.string())).exit_code, 0);

  EXPECT_EQ(::open((mnt / "new.txt").c_str(), O_WRONLY | O_CREAT, 0644), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::open((mnt / "a.txt").c_str(), O_WRONLY | O_APPEND), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(error_of(::mkdir((mnt / "d").c_str(), 0755)), EROFS);
  EXPECT_EQ(error_of(::unlink((mnt / "a.txt").c_str())), EROFS);
  EXPECT_EQ(error_of(::rename((mnt / "a.txt").c_str(), (mnt / "c.txt").c_str())), EROFS);
  EXPECT_EQ(error_of(::truncate((mnt / "a.txt").c_str(), 0)), EROFS);
  EXPECT_EQ(error_of(::chmod((mnt / "a.txt").c_str(), 0600)), EROFS);
  EXPECT_EQ(error_of(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0)), EROFS);

  int status = -1;
  EXPECT_NE(ctl("flush " + quote(mnt.string()), &status).find("flushed"), std::string::npos);
  EXPECT_EQ(status, 0);
  EXPECT_NE(ctl("compact " + quote(mnt.string()), &status).find("Read-only file system"), std::string::npos);
  EXPECT_EQ(status, 1);
  const auto unmounted = ctl("unmount " + quote(mnt.string()), &status);
  EXPECT_EQ(status, 0) << unmounted;
  EXPECT_NE(unmounted.find("read-only"), std::string::npos) << unmounted;
  EXPECT_EQ(daemon->wait_exit(std::chrono::seconds(10)), 0) << daemon->log();
  EXPECT_FALSE(is_mounted(mnt));

  EXPECT_EQ(read_file(archive), before) << "the dead bytes stay: nothing is trimmed";
  struct stat archive_after {};
  ASSERT_EQ(::stat(archive.c_str(), &archive_after), 0);
  EXPECT_EQ(archive_after.st_ino, archive_before.st_ino);
  EXPECT_EQ(archive_after.st_mtim.tv_sec, archive_before.st_mtim.tv_sec);
  EXPECT_EQ(archive_after.st_mtim.tv_nsec, archive_before.st_mtim.tv_nsec);
  EXPECT_EQ(names_in(dir.path()), beside) << "nothing made or removed beside the archive";
  EXPECT_NE(daemon->log().find("left as they are (read-only)"), std::string::npos) << daemon->log();
}

// Read-only media: a writable mount cannot start there and says to use ro.
TEST_F(read_only_fixture, AnArchiveOnAReadOnlyFilesystemMountsReadOnly) {
  const fs::path media = dir / "media";
  fs::create_directories(media);
  if (::mount(dir.path().c_str(), media.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    GTEST_SKIP() << "cannot bind-mount here: " << std::strerror(errno);
  }
  struct unmount_media {
    fs::path path;
    ~unmount_media() { ::umount2(path.c_str(), MNT_DETACH); }
  } guard{media};
  ASSERT_EQ(::mount(nullptr, media.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr), 0)
      << std::strerror(errno);
  const fs::path on_media = media / "archive.7z";

  daemon_process writable(on_media, mnt, "", dir / "writable.log");
  EXPECT_EQ(writable.wait_exit(std::chrono::seconds(10)), 3);
  EXPECT_NE(writable.log().find("-o ro mounts it read-only"), std::string::npos) << writable.log();

  daemon_process reader(on_media, mnt, "ro", log);
  ASSERT_TRUE(reader.wait_mounted()) << reader.log();
  EXPECT_EQ(read_file(mnt / "sub" / "b.txt"), std::string(100000, 'b'));
  EXPECT_EQ(reader.unmount_and_wait(), 0) << reader.log();
}

// An archive on a file system that keeps no locks (ENOLCK, as an NFS mount
// without its lock service): nothing could keep a second writer out, so a
// writable mount is refused, saying why, and leaves no lock file; a
// read-only one needs no lock to read, and mounts with a warning.
TEST_F(read_only_fixture, OnAFileSystemWithoutLocksOnlyAReadOnlyMountStarts) {
  const std::vector<std::string> no_locks{"LD_PRELOAD=" SEVENZFS_NO_LOCKS_SHIM,
                                          "SEVENZFS_TEST_NO_LOCKS_UNDER=" + fs::canonical(dir.path()).string()};
  const std::string before = read_file(archive);
  const auto beside = names_in(dir.path());

  daemon_process writable(archive, mnt, "", dir / "writable.log", no_locks);
  EXPECT_EQ(writable.wait_exit(std::chrono::seconds(10)), 3);
  const std::string refused = writable.log();
  EXPECT_NE(refused.find("No locks available: the file system there keeps no locks"), std::string::npos) << refused;
  EXPECT_NE(refused.find("mount it read-only (-o ro)"), std::string::npos) << refused;
  fs::remove(dir / "writable.log");
  EXPECT_EQ(names_in(dir.path()), beside) << "no lock file left behind";

  daemon_process reader(archive, mnt, "ro", log, no_locks);
  ASSERT_TRUE(reader.wait_mounted()) << reader.log();
  EXPECT_EQ(read_file(mnt / "a.txt"), "first file\n");
  EXPECT_EQ(read_file(mnt / "sub" / "b.txt"), std::string(100000, 'b'));
  EXPECT_EQ(reader.unmount_and_wait(), 0) << reader.log();
  EXPECT_NE(reader.log().find("keeps no locks (No locks available); mounted read-only without a lock"),
            std::string::npos)
      << reader.log();
  EXPECT_EQ(read_file(archive), before);
}

TEST_F(read_only_fixture, ReadOnlyMountsShareTheArchiveAndKeepAWritableOneOut) {
  auto first = mount("ro");
  const fs::path other = another_mountpoint("other");
  daemon_process second(archive, other, "ro", dir / "second.log");
  ASSERT_TRUE(second.wait_mounted()) << second.log();
  EXPECT_EQ(read_file(other / "a.txt"), "first file\n");

  const fs::path third = another_mountpoint("third");
  daemon_process writable(archive, third, "", dir / "writable.log");
  EXPECT_EQ(writable.wait_exit(std::chrono::seconds(10)), 3);
  EXPECT_NE(writable.log().find("a read-only mount"), std::string::npos) << writable.log();
  EXPECT_FALSE(fs::exists(archive.string() + ".lock")) << "the refused daemon removes its lock file";

  EXPECT_EQ(first->unmount_and_wait(), 0) << first->log();
  EXPECT_EQ(second.unmount_and_wait(), 0) << second.log();
  auto now_writable = mount();
  write_file(mnt / "new.txt", "written\n");
  daemon_process refused(archive, other, "ro", dir / "refused.log");
  EXPECT_EQ(refused.wait_exit(std::chrono::seconds(10)), 3);
  EXPECT_NE(refused.log().find("pid " + std::to_string(now_writable->pid())), std::string::npos) << refused.log();
  ASSERT_EQ(now_writable->unmount_and_wait(), 0) << now_writable->log();

  auto reader = mount("ro");
  EXPECT_EQ(read_file(mnt / "new.txt"), "written\n");
  EXPECT_EQ(reader->unmount_and_wait(), 0) << reader->log();
}

// The writable mount's unmount-then-mount: a read-only mount with wait_lock
// waits for its last commit instead of being refused.
TEST_F(read_only_fixture, WaitLockWaitsForTheWritableMount) {
  auto writable = mount();
  write_file(mnt / "new.txt", "written\n");
  const fs::path other = another_mountpoint("other");
  daemon_process reader(archive, other, "ro,wait_lock", dir / "reader.log");
  EXPECT_FALSE(reader.wait_mounted(std::chrono::seconds(2)));
  ASSERT_EQ(writable->unmount_and_wait(), 0) << writable->log();
  ASSERT_TRUE(reader.wait_mounted()) << reader.log();
  EXPECT_EQ(read_file(other / "new.txt"), "written\n");
  EXPECT_NE(reader.log().find("waiting for it"), std::string::npos) << reader.log();
  EXPECT_EQ(reader.unmount_and_wait(), 0) << reader.log();
}

// A writable mount with wait_lock waits while read-only mounts run.
TEST_F(read_only_fixture, AWritableMountWithWaitLockWaitsForTheReadOnlyOnes) {
  auto reader = mount("ro");
  const fs::path other = another_mountpoint("other");
  daemon_process writable(archive, other, "wait_lock", dir / "writable.log");
  EXPECT_FALSE(writable.wait_mounted(std::chrono::seconds(2)));
  EXPECT_NE(writable.log().find("a read-only mount"), std::string::npos) << writable.log();
  ASSERT_EQ(reader->unmount_and_wait(), 0) << reader->log();
  ASSERT_TRUE(writable.wait_mounted()) << writable.log();
  write_file(other / "new.txt", "written\n");
  ASSERT_EQ(writable.unmount_and_wait(), 0) << writable.log();
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " new.txt").output, "written\n");
}

TEST_F(read_only_fixture, NeedsAnArchiveAndLeavesARecoveryArchiveForTheNextWritableMount) {
  daemon_process missing(dir / "missing.7z", mnt, "ro", dir / "missing.log");
  EXPECT_EQ(missing.wait_exit(std::chrono::seconds(10)), 3);
  EXPECT_NE(missing.log().find("nothing to mount read-only"), std::string::npos) << missing.log();
  EXPECT_FALSE(fs::exists(dir / "missing.7z"));
  write_file(dir / "empty.7z", "");
  daemon_process empty(dir / "empty.7z", mnt, "ro", dir / "empty.log");
  EXPECT_EQ(empty.wait_exit(std::chrono::seconds(10)), 3);
  EXPECT_NE(empty.log().find("the file is empty"), std::string::npos) << empty.log();

  // What a failed final commit kept: a valid 7z beside the archive.
  const fs::path recovery = archive.string() + ".recovery.7z";
  write_file(dir / "kept.txt", "kept by a failed commit\n");
  ASSERT_EQ(
      run("cd " + quote(dir.path().string()) + " && 7zz a -bd " + quote(recovery.string()) + " kept.txt >/dev/null")
          .exit_code,
      0);
  const std::string recovery_bytes = read_file(recovery);
  // And one kept in recovery_dir, where the disk beside the archive was full.
  const fs::path recovery_dir = dir / "recovery";
  fs::create_directories(recovery_dir);
  fs::permissions(recovery_dir, fs::perms::owner_all);
  const fs::path spare = recovery_dir / (sevenzfs::fs::spare_recovery_prefix(archive.string()) + "a1b2c3.7z");
  fs::copy_file(recovery, spare);
  fs::permissions(spare, fs::perms::owner_read | fs::perms::owner_write);
  auto reader = mount("ro,recovery_dir=" + recovery_dir.string());
  EXPECT_FALSE(fs::exists(mnt / "kept.txt"));
  EXPECT_EQ(reader->unmount_and_wait(), 0) << reader->log();
  for (const auto& kept : {recovery, spare}) {
    EXPECT_NE(reader->log().find(kept.string() + " holds changes a failed final commit kept"), std::string::npos)
        << reader->log();
  }
  EXPECT_EQ(read_file(recovery), recovery_bytes);
  EXPECT_EQ(read_file(spare), recovery_bytes);
  fs::remove(spare);

  auto writable = mount();
  EXPECT_EQ(read_file(mnt / "kept.txt"), "kept by a failed commit\n");
  EXPECT_EQ(writable->unmount_and_wait(), 0) << writable->log();
  EXPECT_FALSE(fs::exists(recovery));
}
