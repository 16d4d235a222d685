// `mount -t fuse.sevenzfs` and an fstab line (`mount -T FILE MNT`) start the
// installed daemon the way an operator's system does: mount(8) runs
// mount.fuse3, which runs `sevenzfs SRC MNT -o OPTIONS` in the background with
// a fixed search path. Run in a private mount namespace whose /usr/local/bin
// is a fresh `cmake --install`, so nothing is installed on the machine.
#include "operator_files.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

namespace fs = std::filesystem;
using namespace sevenzfs::test;

namespace {

// Mounts with `mount_command`, writes a file, unmounts and waits for the
// daemon; prints the daemon's command line and executable.
constexpr const char* kScript = R"sh(set -eu
mount --bind "$ROOT/usr/local/bin" /usr/local/bin
eval "$MOUNT_COMMAND"
grep -q " $MNT [^-]* - fuse.sevenzfs " /proc/self/mountinfo || { echo "not mounted as fuse.sevenzfs"; exit 1; }
echo "hello from $MNT" > "$MNT/hello.txt"
mkdir "$MNT/dir" && seq 1 20000 > "$MNT/dir/numbers.txt"
pid=$(getfattr -n user.sevenzfs.pid --only-values "$MNT")
echo "exe=$(readlink /proc/$pid/exe)"
echo "args=$(tr '\0' ' ' < /proc/$pid/cmdline)"
fusermount3 -u "$MNT"
# Wait for the final commit: until the daemon has exited (or is a zombie).
while [ -e /proc/$pid ] && [ "$(cut -d' ' -f3 /proc/$pid/stat)" != Z ]; do sleep 0.05; done
)sh";

struct mount_helper : testing::Test {
  temp_dir dir;
  fs::path root = dir / "root";
  fs::path archive = dir / "data" / "a b.7z";
  fs::path mnt = dir / "mnt";

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mount(8) with -t and -T)";
    if (run("command -v unshare && command -v mount.fuse3 && command -v getfattr").exit_code != 0) {
      GTEST_SKIP() << "unshare, mount.fuse3 (fuse3) or getfattr (attr) is missing";
    }
    fs::create_directories(archive.parent_path());
    fs::create_directories(mnt);
    const auto installed = run("DESTDIR=" + quote(root.string()) + " cmake --install " + quote(build_dir().string()) +
                               " --prefix /usr/local");
    ASSERT_EQ(installed.exit_code, 0) << installed.output;
  }

  command_result mount_and_use(const std::string& mount_command) {
    write_file(dir / "script.sh", kScript);
    return run("ROOT=" + quote(root.string()) + " MNT=" + quote(mnt.string()) +
               " MOUNT_COMMAND=" + quote(mount_command) + " unshare --mount --propagation private sh " +
               quote((dir / "script.sh").string()));
  }

  void expect_archive_holds_the_files() {
    const auto tested = run("7zz t " + quote(archive.string()));
    EXPECT_EQ(tested.exit_code, 0) << tested.output;
    EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " hello.txt").output, "hello from " + mnt.string() + "\n");
    EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " dir/numbers.txt | wc -l").output, "20000\n");
  }
};

}  // namespace

TEST_F(mount_helper, MountTypeFuseSevenzfs) {
  const auto result =
      mount_and_use("mount -t fuse.sevenzfs -o level=1,nofail,x-test=1 \"$ROOT/../data/a b.7z\" \"$MNT\"");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  // The installed daemon, found on mount(8)'s search path, called as mount.fuse3 does.
  EXPECT_NE(result.output.find("exe=/usr/local/bin/sevenzfs\n"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find(fmt::format(" {} -o rw,level=1,dev,suid \n", mnt.string())), std::string::npos)
      << result.output;
  expect_archive_holds_the_files();
}

TEST_F(mount_helper, FstabLine) {
  // Spaces in fstab fields are written \040.
  std::string source;
  for (const char c : archive.string()) source += c == ' ' ? std::string("\\040") : std::string(1, c);
  write_file(dir / "fstab", "# test fstab\n" + source + "  " + mnt.string() +
                                "  fuse.sevenzfs  defaults,level=1,nofail,_netdev,x-systemd.automount  0  0\n");
  const auto result = mount_and_use("mount -T " + quote((dir / "fstab").string()) + " \"$MNT\"");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("exe=/usr/local/bin/sevenzfs\n"), std::string::npos) << result.output;
  expect_archive_holds_the_files();
}
