// Finding a sevenzfs mount from what the user typed, the daemon's process in
// /proc, and xattrs by path.
#include "tools/ctl_mount.hpp"

#include "ctl_fakes.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <thread>

namespace fs = std::filesystem;
using namespace sevenzfs::tools;
using namespace sevenzfs::test;

namespace {

std::vector<mount_entry> mounts_of(const std::vector<std::pair<std::string, std::string>>& list) {
  temp_dir dir;
  write_mountinfo(dir / "mountinfo", list);
  return parse_mountinfo(read_file(dir / "mountinfo"));
}

struct cwd_guard {
  fs::path saved = fs::current_path();
  ~cwd_guard() { fs::current_path(saved); }
};

}  // namespace

TEST(CtlMount, ParsesMountinfoWithEscapesAndOptionalFields) {
  const auto mounts = parse_mountinfo(
      "22 1 0:21 / / rw shared:1 - ext4 /dev/vda rw\n"
      "40 22 0:40 / /mnt/my\\040archive\\134x rw,nosuid shared:5 master:2 - fuse.sevenzfs /srv/a\\040b.7z rw\n"
      "41 22 0:41 / /run/user ro,nosuid - tmpfs tmpfs rw\n"
      "42 22 0:42 / /mnt/ro rw - fuse.sevenzfs /srv/r.7z ro,user_id=0\n"
      "garbage\n");
  ASSERT_EQ(mounts.size(), 4u);
  EXPECT_FALSE(mounts[1].read_only);
  EXPECT_FALSE(mounts[2].read_only) << "a bind mount made read-only: the filesystem is not";
  EXPECT_TRUE(mounts[3].read_only);
  EXPECT_EQ(mounts[1].mountpoint, "/mnt/my archive\\x");
  EXPECT_EQ(mounts[1].fstype, "fuse.sevenzfs");
  EXPECT_EQ(mounts[1].source, "/srv/a b.7z");
  EXPECT_EQ(mounts[2].fstype, "tmpfs");
}

TEST(CtlMount, FindsTheMountHoweverItIsWritten) {
  temp_dir dir;
  fs::create_directories(dir / "m n");
  fs::create_directories(dir / "other");
  const std::string mnt = (dir / "m n").string();
  const auto mounts = mounts_of({{mnt, "fuse.sevenzfs"}, {(dir / "other").string(), "tmpfs"}});
  EXPECT_EQ(find_sevenzfs_mount(mnt, mounts)->mountpoint, mnt);
  EXPECT_EQ(find_sevenzfs_mount(mnt + "/", mounts)->mountpoint, mnt);
  EXPECT_EQ(find_sevenzfs_mount(mnt + "/.", mounts)->mountpoint, mnt);
  fs::create_symlink(dir / "m n", dir / "link");
  EXPECT_EQ(find_sevenzfs_mount((dir / "link").string(), mounts)->mountpoint, mnt);
  cwd_guard guard;
  fs::current_path(dir.path());
  EXPECT_EQ(find_sevenzfs_mount("m n/", mounts)->mountpoint, mnt);
  EXPECT_EQ(find_sevenzfs_mount("./other/../m n", mounts)->mountpoint, mnt);
}

TEST(CtlMount, SaysWhyAPathIsNoSevenzfsMount) {
  temp_dir dir;
  fs::create_directories(dir / "m" / "sub");
  fs::create_directories(dir / "plain");
  fs::create_directories(dir / "ext");
  write_file(dir / "file", "x");
  const auto mounts = mounts_of({{(dir / "m").string(), "fuse.sevenzfs"}, {(dir / "ext").string(), "ext4"}});
  const auto error = [&](const fs::path& path) {
    const auto found = find_sevenzfs_mount(path.string(), mounts);
    return found ? std::string("found") : found.error();
  };
  EXPECT_EQ(error(dir / "missing"), (dir / "missing").string() + ": does not exist");
  EXPECT_EQ(error(dir / "plain"), (dir / "plain").string() + ": is not a mount point");
  EXPECT_EQ(error(dir / "ext"), (dir / "ext").string() + ": is a ext4 mount, not a sevenzfs mount");
  EXPECT_EQ(error(dir / "file"), (dir / "file").string() + ": is not a directory");
  EXPECT_EQ(
      error(dir / "m" / "sub"),
      (dir / "m" / "sub").string() + ": is not a mount point; it is inside the sevenzfs mount " + (dir / "m").string());
  // A later mount on the same point hides the earlier one.
  const auto stacked = mounts_of({{(dir / "m").string(), "fuse.sevenzfs"}, {(dir / "m").string(), "tmpfs"}});
  EXPECT_FALSE(find_sevenzfs_mount((dir / "m").string(), stacked));
  EXPECT_FALSE(is_sevenzfs_mounted((dir / "m").string(), stacked));
  EXPECT_TRUE(is_sevenzfs_mounted((dir / "m").string(), mounts));
}

TEST(CtlMount, ProcessesComeAndGo) {
  const auto self = find_process("/proc", ::getpid());
  ASSERT_TRUE(self);
  EXPECT_GT(self->start_ticks, 0u);
  EXPECT_TRUE(is_running("/proc", *self));
  EXPECT_FALSE(is_running("/proc", {self->pid, self->start_ticks + 1})) << "a reused pid is another process";
  EXPECT_FALSE(find_process("/proc", 0));

  const pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  const auto running = find_process("/proc", child);
  ASSERT_TRUE(running);
  ::kill(child, SIGKILL);
  // Until reaped the child is a zombie: it has exited all the same.
  for (int i = 0; i < 200 && is_running("/proc", *running); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(is_running("/proc", *running));
  EXPECT_TRUE(fs::exists("/proc/" + std::to_string(child))) << "still a zombie";
  ::waitpid(child, nullptr, 0);
  EXPECT_FALSE(is_running("/proc", *running));
}

TEST(CtlMount, PathXattrsReadAndSet) {
  temp_dir dir;
  if (::setxattr(dir.path().c_str(), "user.probe", "1", 1, 0) != 0) {
    GTEST_SKIP() << "no user xattrs on " << dir.path() << ": " << std::strerror(errno);
  }
  const std::string big(3000, 'j');
  ASSERT_EQ(::setxattr(dir.path().c_str(), "user.sevenzfs.stats", big.data(), big.size(), 0), 0);
  auto xattrs = path_xattrs(dir.path().string());
  EXPECT_EQ(xattrs->get("stats").value_or(""), big);
  const auto missing = xattrs->get("nothing");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), ENODATA);
  EXPECT_EQ(xattrs->set("flush"), 0);
  EXPECT_EQ(xattrs->get("flush").value_or(""), "1");
  EXPECT_EQ(path_xattrs((dir / "missing").string())->set("flush"), ENOENT);
}
