// The recovery archive without a mount: what save_uncommitted keeps (only
// what the archive does not hold as it is), and commit_recovery_archive
// putting it into the archive. The disk-full path through real mounts is in
// recovery_e2e_test.
#include "fs/recovery.hpp"

#include "fs_test_support.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <fmt/format.h>

#include <sys/stat.h>

using namespace sevenzfs;
using namespace sevenzfs::test;
using fs::kRootInode;

namespace {

struct recovery_fixture : testing::Test {
  temp_dir dir;
  std::filesystem::path archive = dir / "a.7z";
  std::filesystem::path recovery = dir / "a.7z.recovery.7z";
  captured_log log;
  fs::caller me{::getuid(), ::getgid()};

  std::unique_ptr<fs::filesystem> open() {
    return std::make_unique<fs::filesystem>(small_daemon_options(archive), log.logger());
  }
  static std::string listing(const std::filesystem::path& of) {
    return run("7zz l -ba -slt " + quote(of.string()) + " | grep '^Path = ' | LC_ALL=C sort").output;
  }
  static std::string extracted(const std::filesystem::path& of, const std::string& member) {
    return run("7zz e -so " + quote(of.string()) + " " + quote(member)).output;
  }
};

}  // namespace

TEST_F(recovery_fixture, NothingIsWrittenWhenTheArchiveHoldsEverything) {
  auto filesystem = open();
  make_file(*filesystem, kRootInode, "a.txt", "a\n");
  ASSERT_TRUE(filesystem->mkdir(kRootInode, "d", 0755, me));
  ASSERT_TRUE(filesystem->commit_everything());
  const auto saved = filesystem->save_for_recovery();
  ASSERT_TRUE(saved) << saved.error().message;
  EXPECT_EQ(saved->path, "");
  EXPECT_FALSE(std::filesystem::exists(recovery));
}

TEST_F(recovery_fixture, KeepsChangedContentNewNamesAndNewDirectoriesOnly) {
  auto filesystem = open();
  make_file(*filesystem, kRootInode, "kept.txt", "unchanged\n");
  make_file(*filesystem, kRootInode, "old-name.txt", "renamed\n");
  make_file(*filesystem, kRootInode, "gone.txt", "deleted\n");
  ASSERT_TRUE(filesystem->commit_everything());
  ASSERT_TRUE(filesystem->rename(kRootInode, "old-name.txt", kRootInode, "new-name.txt", 0));
  ASSERT_TRUE(filesystem->unlink(kRootInode, "gone.txt"));
  const auto dir_attr = filesystem->mkdir(kRootInode, "new-dir", 0700, me);
  ASSERT_TRUE(dir_attr);
  make_file(*filesystem, dir_attr->st_ino, "fresh.bin", std::string(300000, 'x'));
  ASSERT_TRUE(filesystem->symlink("fresh.bin", dir_attr->st_ino, "link", me));

  const auto saved = filesystem->save_for_recovery();
  ASSERT_TRUE(saved) << saved.error().message;
  EXPECT_EQ(saved->path, recovery.string());
  EXPECT_EQ(saved->files, 3u);  // fresh.bin, link, new-name.txt
  EXPECT_EQ(saved->bytes, 300000u + 9 + 8);
  EXPECT_EQ(saved->left_out, 0u);
  struct stat st {};
  ASSERT_EQ(::stat(recovery.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(run("7zz t " + quote(recovery.string())).exit_code, 0);
  EXPECT_EQ(listing(recovery), "Path = new-dir\nPath = new-dir/fresh.bin\nPath = new-dir/link\nPath = new-name.txt\n");
  EXPECT_EQ(extracted(recovery, "new-name.txt"), "renamed\n");
  filesystem.reset();

  // The next mount: committed into the archive, and removed.
  const auto committed = fs::commit_recovery_archive(small_daemon_options(archive), log.logger());
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_FALSE(std::filesystem::exists(recovery));
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  // Deletions are not recorded: gone.txt and the old name stay.
  EXPECT_EQ(listing(archive),
            "Path = gone.txt\nPath = kept.txt\nPath = new-dir\nPath = new-dir/fresh.bin\n"
            "Path = new-dir/link\nPath = new-name.txt\nPath = old-name.txt\n");
  EXPECT_EQ(extracted(archive, "new-dir/fresh.bin"), std::string(300000, 'x'));
  EXPECT_NE(log.text().find("committed 3 files (300017 bytes) of the recovery archive"), std::string::npos)
      << log.text();
}

TEST_F(recovery_fixture, WithoutARecoveryArchiveTheMountHasNothingToDo) {
  const auto committed = fs::commit_recovery_archive(small_daemon_options(archive), log.logger());
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_FALSE(std::filesystem::exists(archive));
  EXPECT_EQ(log.text(), "");
}

TEST_F(recovery_fixture, ARecoveryArchiveThatIsNotARegularFileRefusesTheMount) {
  std::filesystem::create_directory(recovery);
  const auto committed = fs::commit_recovery_archive(small_daemon_options(archive), log.logger());
  ASSERT_FALSE(committed);
  EXPECT_FALSE(committed.error().commit_failed);
  EXPECT_NE(committed.error().message.find("is not a regular file"), std::string::npos);
  EXPECT_TRUE(std::filesystem::is_directory(recovery));
}

// A log appended to after a remount holds its new bytes only: the recovery
// archive holds the whole file, its archived start read back. When that
// start cannot be read (damaged), the appends are left out, last, and named,
// and everything else is saved.
TEST_F(recovery_fixture, AnAppendedArchivedFileIsSavedWholeOrLeftOutLastWhenItsStartIsDamaged) {
  std::string first;
  for (int line = 0; first.size() < 2'000'000; ++line) {
    first += fmt::format("{} the service did thing {}\n", line, line % 97);
  }
  for (const bool damaged : {false, true}) {
    SCOPED_TRACE(damaged);
    std::filesystem::remove(archive);
    std::filesystem::remove(recovery);
    {
      auto filesystem = open();
      make_file(*filesystem, kRootInode, "log.txt", first);
      ASSERT_TRUE(filesystem->commit_everything());  // a folder of its own
      make_file(*filesystem, kRootInode, "old-name.txt", "renamed\n");
      ASSERT_TRUE(filesystem->final_commit());
    }
    if (damaged) flip_byte(archive, 32 + 300);  // inside the first chunk's data
    auto filesystem = open();
    const auto looked_up = filesystem->lookup(kRootInode, "log.txt");
    ASSERT_TRUE(looked_up);
    const auto log_file = looked_up->st_ino;
    ASSERT_TRUE(filesystem->open(log_file, O_WRONLY | O_APPEND));
    ASSERT_TRUE(filesystem->write(log_file, bytes_of_text("appended\n"), static_cast<off_t>(first.size())));
    make_file(*filesystem, kRootInode, "new.txt", "new\n");
    ASSERT_TRUE(filesystem->rename(kRootInode, "old-name.txt", kRootInode, "new-name.txt", 0));

    const auto saved = filesystem->save_for_recovery();
    ASSERT_TRUE(saved) << saved.error().message;
    EXPECT_EQ(run("7zz t " + quote(recovery.string()) + " >/dev/null").exit_code, 0);
    EXPECT_EQ(extracted(recovery, "new.txt"), "new\n");
    if (!damaged) {
      EXPECT_EQ(saved->appends_lost, 0u);
      EXPECT_EQ(saved->left_out, 0u);
      EXPECT_EQ(extracted(recovery, "log.txt"), first + "appended\n");
      EXPECT_EQ(extracted(recovery, "new-name.txt"), "renamed\n");
    } else {
      EXPECT_EQ(saved->appends_lost, 1u);
      EXPECT_EQ(saved->left_out, 0u) << "only the appends are left out";
      EXPECT_EQ(listing(recovery), "Path = new-name.txt\nPath = new.txt\n");
      EXPECT_EQ(extracted(recovery, "new-name.txt"), "renamed\n");
      EXPECT_NE(log.text().find("lost: what was appended to 1 archived files"), std::string::npos) << log.text();
    }
    filesystem->release(log_file, O_WRONLY);
  }
}

// An append to an archived file is a change of its own: saved when it is
// the only one.
TEST_F(recovery_fixture, AnAppendAloneIsSaved) {
  {
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "log.txt", std::string(300'000, 'l'));
    ASSERT_TRUE(filesystem->final_commit());
  }
  auto filesystem = open();
  const auto looked_up = filesystem->lookup(kRootInode, "log.txt");
  ASSERT_TRUE(looked_up);
  ASSERT_TRUE(filesystem->open(looked_up->st_ino, O_WRONLY | O_APPEND));
  ASSERT_TRUE(filesystem->write(looked_up->st_ino, bytes_of_text("appended\n"), 300'000));
  const auto stat_of = [&](const std::string& name) {
    return std::stoull(filesystem->getxattr(kRootInode, "user.sevenzfs." + name, false).value_or("0"));
  };
  EXPECT_LT(stat_of("pool_bytes") - stat_of("pool_free_bytes"), 100'000u) << "only the appended bytes are staged";
  const auto saved = filesystem->save_for_recovery();
  ASSERT_TRUE(saved) << saved.error().message;
  EXPECT_EQ(saved->path, recovery.string());
  EXPECT_EQ(extracted(recovery, "log.txt"), std::string(300'000, 'l') + "appended\n");
  filesystem->release(looked_up->st_ino, O_WRONLY);
}
