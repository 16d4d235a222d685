// The daemon's command line and the write options it derives from it.
#include "fs/daemon_options.hpp"
#include "fs/sealer.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace sevenzfs::fs {
namespace {

daemon_options parsed(const std::string& options) {
  const auto result = parse_daemon_command_line({"-o", options, "/tmp/a.7z", "/tmp/mnt"});
  EXPECT_TRUE(result.options.has_value()) << result.error;
  return result.options.value_or(daemon_options{});
}

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

// Threads + 1 parts fit in half of the pool; parts stay between 1 MiB and
// 256 MiB.
TEST(DaemonOptions, PartsOfThreadsPlusOneFillHalfOfThePool) {
  EXPECT_EQ(daemon_write_options(parsed("pool_size=128M,threads=2")).compression.max_part_bytes, 128 * kMiB / 2 / 3);
  EXPECT_EQ(daemon_write_options(parsed("pool_size=128M,threads=1")).compression.max_part_bytes, 128 * kMiB / 2 / 2);
  EXPECT_EQ(daemon_write_options(parsed("pool_size=4M,threads=2")).compression.max_part_bytes, kMiB);
  EXPECT_EQ(daemon_write_options(parsed("pool_size=4G,threads=2")).compression.max_part_bytes, 256 * kMiB);
}

TEST(DaemonOptions, RefusesAPoolSizeThatIsNotASize) {
  const auto result = parse_daemon_command_line({"-o", "pool_size=lots", "/tmp/a.7z", "/tmp/mnt"});
  EXPECT_FALSE(result.options.has_value());
  EXPECT_NE(result.error.find("pool_size"), std::string::npos) << result.error;
}

// A pool larger than the machine's memory would bound nothing: refused
// with the limit named (100T used to end in "cannot start: std::bad_alloc").
TEST(DaemonOptions, RefusesAPoolLargerThanTheMachinesMemory) {
  const std::uint64_t memory = physical_memory_bytes();
  EXPECT_EQ(parsed("pool_size=" + std::to_string(memory)).pool_bytes, memory);
  for (const std::string& size : {std::to_string(memory + 1), std::string("100T")}) {
    const auto result = parse_daemon_command_line({"-o", "pool_size=" + size, "/tmp/a.7z", "/tmp/mnt"});
    EXPECT_FALSE(result.options.has_value()) << size;
    EXPECT_NE(result.error.find("pool_size expects a size from 1M to this machine's memory (" +
                                std::to_string(memory >> 20) + "M)"),
              std::string::npos)
        << result.error;
  }
}

// Names that can only be directories are a bad command line: "" used to
// mount the working directory's ".lock" and fail with exit 4.
TEST(DaemonOptions, RefusesAnArchiveNameThatCanOnlyBeADirectory) {
  for (const std::string name : {"", "a.7z/", "/tmp/", ".", "..", "/tmp/x/.."}) {
    const auto result = parse_daemon_command_line({name, "/tmp/mnt"});
    EXPECT_FALSE(result.options.has_value()) << "'" << name << "'";
    EXPECT_EQ(result.error, "'" + name + "' names a directory, not an archive file");
  }
  EXPECT_TRUE(parse_daemon_command_line({"/tmp/.hidden.7z", "/tmp/mnt"}).options.has_value());
}

TEST(DaemonOptions, WritingThreadsAreOneFewerThanThreadsUnlessSet) {
  EXPECT_FALSE(parsed("pool_size=64M").writing_threads.has_value());
  EXPECT_EQ(parsed("writing_threads=3").writing_threads, 3u);
  EXPECT_EQ(parsed("writing_threads=0").writing_threads, 0u);
  // The older switch: 1 holds settled files while writes go on, 0 uses every thread.
  EXPECT_EQ(parsed("defer_while_writing=1").writing_threads, 0u);
  EXPECT_EQ(parsed("defer_while_writing=0").writing_threads, UINT32_MAX);
  const auto result = parse_daemon_command_line({"-o", "defer_while_writing=yes", "/tmp/a.7z", "/tmp/mnt"});
  EXPECT_FALSE(result.options.has_value());
  EXPECT_NE(result.error.find("defer_while_writing expects 0 or 1"), std::string::npos) << result.error;
  const auto many = parse_daemon_command_line({"-o", "writing_threads=two", "/tmp/a.7z", "/tmp/mnt"});
  EXPECT_FALSE(many.options.has_value());
  EXPECT_NE(many.error.find("writing_threads expects"), std::string::npos) << many.error;
}

TEST(DaemonOptions, TheSealerResolvesWritingThreadsAgainstThreads) {
  EXPECT_EQ(sealer::timing::of(parsed("threads=4")).writing_threads, 3u);
  EXPECT_EQ(sealer::timing::of(parsed("threads=1")).writing_threads, 0u);  // then settled files wait
  EXPECT_EQ(sealer::timing::of(parsed("threads=2,defer_while_writing=0")).writing_threads, 2u);
  EXPECT_EQ(sealer::timing::of(parsed("threads=2,writing_threads=8")).writing_threads, 2u);
  EXPECT_EQ(sealer::timing::of(parsed("threads=2,defer_while_writing=1")).writing_threads, 0u);
}

TEST(DaemonOptions, IdleReleaseIsThirtySecondsUnlessSet) {
  EXPECT_EQ(parsed("pool_size=64M").idle_release, std::chrono::seconds(30));
  EXPECT_EQ(parsed("idle_release=0").idle_release, std::chrono::milliseconds(0));
  EXPECT_EQ(parsed("idle_release=0.5").idle_release, std::chrono::milliseconds(500));
  const auto result = parse_daemon_command_line({"-o", "idle_release=soon", "/tmp/a.7z", "/tmp/mnt"});
  EXPECT_FALSE(result.options.has_value());
  EXPECT_NE(result.error.find("idle_release expects a number of seconds"), std::string::npos) << result.error;
}

// Checked at mount: a recovery_dir found missing only when a final commit
// failed would lose what the recovery archive should have kept.
TEST(DaemonOptions, RecoveryDirIsAnExistingDirectoryMadeAbsolute) {
  EXPECT_EQ(parsed("pool_size=64M").recovery_dir, "/var/tmp");
  test::temp_dir dir;
  EXPECT_EQ(parsed("recovery_dir=" + dir.path().string() + "/").recovery_dir, dir.path().string());
  const auto here = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  std::filesystem::create_directory("sub");
  const auto relative = parsed("recovery_dir=sub").recovery_dir;
  std::filesystem::current_path(here);
  EXPECT_EQ(relative, (dir.path() / "sub").string()) << "libfuse changes the working directory to /";
  for (const std::string& missing : {dir.path().string() + "/missing", std::string(""), std::string("/etc/passwd")}) {
    const auto result = parse_daemon_command_line({"-o", "recovery_dir=" + missing, "/tmp/a.7z", "/tmp/mnt"});
    EXPECT_FALSE(result.options.has_value()) << missing;
    EXPECT_EQ(result.error, "option recovery_dir expects an existing directory, got '" + missing + "'");
  }
  // The mount commits what it finds there: nobody else may replace files in it.
  const auto open_to_all = dir.path() / "open";
  std::filesystem::create_directory(open_to_all);
  ASSERT_EQ(::chmod(open_to_all.c_str(), 0777), 0);
  const auto refused =
      parse_daemon_command_line({"-o", "recovery_dir=" + open_to_all.string(), "/tmp/a.7z", "/tmp/mnt"});
  EXPECT_FALSE(refused.options.has_value());
  EXPECT_NE(refused.error.find("others cannot write to, or a sticky one such as /var/tmp"), std::string::npos)
      << refused.error;
  ASSERT_EQ(::chmod(open_to_all.c_str(), 01777), 0);
  EXPECT_EQ(parsed("recovery_dir=" + open_to_all.string()).recovery_dir, open_to_all.string());
  if (::geteuid() == 0) {
    const auto someone_elses = dir.path() / "theirs";
    std::filesystem::create_directory(someone_elses);
    ASSERT_EQ(::chown(someone_elses.c_str(), 65534, 65534), 0);
    EXPECT_FALSE(
        parse_daemon_command_line({"-o", "recovery_dir=" + someone_elses.string(), "/tmp/a.7z", "/tmp/mnt"}).options);
  }
}

bool has_item(const std::vector<std::string>& items, const std::string& item) {
  return std::ranges::find(items, item) != items.end();
}

// The kernel checks modes whenever someone other than root may enter the
// mount; root's own mount leaves that to root's capabilities.
TEST(DaemonOptions, DefaultPermissionsUnlessOnlyRootCanEnter) {
  EXPECT_FALSE(has_item(fuse_mount_items(parsed("threads=1"), true), "default_permissions"));
  EXPECT_TRUE(has_item(fuse_mount_items(parsed("threads=1"), false), "default_permissions"));
  EXPECT_TRUE(has_item(fuse_mount_items(parsed("allow_other"), true), "default_permissions"));
  EXPECT_TRUE(has_item(fuse_mount_items(parsed("allow_root"), true), "default_permissions"));
  EXPECT_TRUE(has_item(fuse_mount_items(parsed("default_permissions"), true), "default_permissions"));
}

TEST(DaemonOptions, MountItemsNameTheTypeAndTheArchiveUnlessFsnameIsGiven) {
  const auto items = fuse_mount_items(parsed("auto_unmount"), true);
  EXPECT_TRUE(has_item(items, "subtype=sevenzfs"));
  EXPECT_TRUE(has_item(items, "fsname=/tmp/a.7z"));
  EXPECT_TRUE(has_item(items, "auto_unmount"));
  const auto named = fuse_mount_items(parsed("fsname=backup"), true);
  EXPECT_TRUE(has_item(named, "fsname=backup"));
  EXPECT_FALSE(has_item(named, "fsname=/tmp/a.7z"));
}

// ro reaches the kernel, which then refuses every change; of ro and rw
// (mount(8) passes rw unless told ro), the last one counts.
TEST(DaemonOptions, ReadOnlyIsTheLastOfRoAndRwAndReachesTheKernel) {
  EXPECT_FALSE(parsed("rw").read_only);
  EXPECT_TRUE(parsed("ro").read_only);
  EXPECT_TRUE(parsed("rw,ro").read_only);
  EXPECT_FALSE(parsed("ro,rw").read_only);
  EXPECT_TRUE(has_item(fuse_mount_items(parsed("rw,ro"), true), "ro"));
  EXPECT_FALSE(has_item(fuse_mount_items(parsed("ro,rw"), true), "ro"));
  EXPECT_FALSE(has_item(fuse_mount_items(parsed("ro,rw"), true), "rw"));
}

// A unit's OPTIONS= left empty gives `-o ""`: nothing for libfuse, which
// refused the empty item as an unknown option.
TEST(DaemonOptions, EmptyOptionItemsAskForNothing) {
  EXPECT_TRUE(parsed("").fuse_options.empty());
  const auto some = parsed("level=1,,auto_unmount,");
  EXPECT_EQ(some.fuse_options, std::vector<std::string>{"auto_unmount"});
  EXPECT_EQ(some.write.compression.level, 1);
}

// Two mounts of one archive must agree on its path (their lock is beside it).
TEST(DaemonOptions, TheArchivePathIsTheFileSymlinksLeadTo) {
  const test::temp_dir dir;
  const auto real = dir / "real.7z";
  test::write_file(real, "");
  std::filesystem::create_directories(dir / "sub");
  std::filesystem::create_symlink("../real.7z", dir / "sub" / "link.7z");
  std::filesystem::create_symlink(dir / "sub" / "link.7z", dir / "chain.7z");
  std::filesystem::create_symlink("missing/../new.7z", dir / "dangling.7z");
  std::filesystem::create_symlink("loop-b.7z", dir / "loop-a.7z");
  std::filesystem::create_symlink("loop-a.7z", dir / "loop-b.7z");
  const auto archive_of = [](const std::filesystem::path& path) {
    const auto result = parse_daemon_command_line({path.string(), "/tmp/mnt"});
    return result.options ? result.options->archive_path : "error: " + result.error;
  };
  const std::string canonical_dir = std::filesystem::canonical(dir.path()).string();
  EXPECT_EQ(archive_of(real), canonical_dir + "/real.7z");
  EXPECT_EQ(archive_of(dir / "sub" / "link.7z"), canonical_dir + "/real.7z");
  EXPECT_EQ(archive_of(dir / "chain.7z"), canonical_dir + "/real.7z");
  EXPECT_EQ(archive_of(dir / "sub" / ".." / "sub" / "link.7z"), canonical_dir + "/real.7z");
  // As the kernel resolves it: through a directory that does not exist, so
  // opening it fails rather than creating new.7z beside the link.
  EXPECT_EQ(archive_of(dir / "dangling.7z"), (dir / "missing/../new.7z").string());
  EXPECT_EQ(archive_of(dir / "absent.7z"), canonical_dir + "/absent.7z");
  EXPECT_NE(archive_of(dir / "loop-a.7z").find("too many levels of symbolic links"), std::string::npos);
}

}  // namespace
}  // namespace sevenzfs::fs
