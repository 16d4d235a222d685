// The recovery archive without a mount: what save_uncommitted keeps (only
// what the archive does not hold as it is), and commit_recovery_archive
// putting it into the archive. The disk-full path through real mounts is in
// recovery_e2e_test.
#include "fs/recovery.hpp"
#include "fs/recovery_removals.hpp"

#include "archive/archive_checks.hpp"
#include "archive/archive_error.hpp"
#include "fs_test_support.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

using namespace sevenzfs;
using namespace sevenzfs::test;
using fs::kRootInode;

namespace {

struct recovery_fixture : testing::Test {
  temp_dir dir;
  std::filesystem::path archive = dir / "a.7z";
  std::filesystem::path recovery = dir / "a.7z.recovery.7z";
  captured_log log;
  fs::caller me{::getuid(), ::getgid(), {}};

  std::filesystem::path spare_dir = dir / "spare";

  // recovery_dir: spare_dir.
  fs::daemon_options options() const {
    auto options = small_daemon_options(archive);
    options.recovery_dir = spare_dir.string();
    return options;
  }
  std::unique_ptr<fs::filesystem> open() { return std::make_unique<fs::filesystem>(options(), log.logger()); }
  std::vector<std::string> spare_files() const {
    std::vector<std::string> names;
    std::error_code ignored;
    for (const auto& item : std::filesystem::directory_iterator(spare_dir, ignored))
      names.push_back(item.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
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

// A removal is all that changed: it is saved beside an empty recovery
// archive, and the next mount removes the paths from the archive.
TEST_F(recovery_fixture, ARemovalAloneIsSavedAndTheNextMountRemovesIt) {
  {
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "kept.txt", "kept\n");
    make_file(*filesystem, kRootInode, "old.log", "rotated away\n");
    ASSERT_TRUE(filesystem->mkdir(kRootInode, "empty-dir", 0755, me));
    ASSERT_TRUE(filesystem->commit_everything());
    ASSERT_TRUE(filesystem->unlink(kRootInode, "old.log"));
    ASSERT_TRUE(filesystem->rmdir(kRootInode, "empty-dir"));
    const auto saved = filesystem->save_for_recovery();
    ASSERT_TRUE(saved) << saved.error().message;
    EXPECT_EQ(saved->path, recovery.string());
    EXPECT_EQ(saved->files, 0u);
    EXPECT_EQ(saved->removals, 2u);
  }
  expect_readers_agree(recovery, {});  // an empty archive, which every reader opens
  const auto removals = std::filesystem::path(fs::removals_path_of(recovery.string()));
  EXPECT_EQ(read_file(removals), std::string(fs::kRemovalsHeading) + std::string("empty-dir\0old.log\0", 18));
  struct stat st {};
  ASSERT_EQ(::stat(removals.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  const auto committed = fs::commit_recovery_archive(small_daemon_options(archive), log.logger());
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_FALSE(std::filesystem::exists(recovery));
  EXPECT_FALSE(std::filesystem::exists(removals));
  EXPECT_EQ(run("7zz t " + quote(archive.string()) + " >/dev/null").exit_code, 0);
  EXPECT_EQ(listing(archive), "Path = kept.txt\n");
  EXPECT_NE(log.text().find("less the 2 paths it lists as removed"), std::string::npos) << log.text();
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
  EXPECT_EQ(saved->removals, 2u);
  EXPECT_EQ(read_file(fs::removals_path_of(recovery.string())),
            std::string(fs::kRemovalsHeading) + std::string("gone.txt\0old-name.txt\0", 22));
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
  EXPECT_FALSE(std::filesystem::exists(fs::removals_path_of(recovery.string())));
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  // The tree as the mount showed it: gone.txt and the old name are removed.
  EXPECT_EQ(listing(archive),
            "Path = kept.txt\nPath = new-dir\nPath = new-dir/fresh.bin\n"
            "Path = new-dir/link\nPath = new-name.txt\n");
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

// A renamed file whose archived content cannot be read is left out of the
// recovery archive and keeps its old name: its removal is not saved, the
// others are; another renamed file, readable, keeps its new name.
TEST_F(recovery_fixture, ARenamedFileThatIsLeftOutKeepsItsOldNameWhileOtherRemovalsAreSaved) {
  std::string text;
  for (int line = 0; text.size() < 1'000'000; ++line) text += fmt::format("line {} of the renamed file\n", line);
  {
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "old-name.txt", text);
    ASSERT_TRUE(filesystem->commit_everything());  // the archive's first folder
    make_file(*filesystem, kRootInode, "gone.dat", "removed\n");
    make_file(*filesystem, kRootInode, "other.log", "readable\n");
    ASSERT_TRUE(filesystem->final_commit());
  }
  flip_byte(archive, 32 + 300);  // inside the first folder's data
  {
    auto filesystem = open();
    ASSERT_TRUE(filesystem->rename(kRootInode, "old-name.txt", kRootInode, "new-name.txt", 0));
    ASSERT_TRUE(filesystem->rename(kRootInode, "other.log", kRootInode, "other-new.log", 0));
    ASSERT_TRUE(filesystem->unlink(kRootInode, "gone.dat"));
    make_file(*filesystem, kRootInode, "new.dat", "new\n");
    const auto saved = filesystem->save_for_recovery();
    ASSERT_TRUE(saved) << saved.error().message;
    EXPECT_EQ(saved->left_out, 1u) << "only the file that cannot be read";
    EXPECT_EQ(saved->removals, 2u);
  }
  EXPECT_NE(log.text().find("lost: the new names, modes or times of 1 archived files (they keep the old ones): "
                            "new-name.txt\n"),
            std::string::npos)
      << log.text();
  EXPECT_EQ(listing(recovery), "Path = new.dat\nPath = other-new.log\n");
  EXPECT_EQ(read_file(fs::removals_path_of(recovery.string())),
            std::string(fs::kRemovalsHeading) + std::string("gone.dat\0other.log\0", 19));
  const auto committed = fs::commit_recovery_archive(small_daemon_options(archive), log.logger());
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_EQ(listing(archive), "Path = new.dat\nPath = old-name.txt\nPath = other-new.log\n");
  EXPECT_EQ(extracted(archive, "other-new.log"), "readable\n");
}

// An archive made elsewhere holds a name twice: the mount shows the earlier
// copy as same_1.txt. The save leaves out the one file it cannot read and
// keeps that copy under its shown name: committing the new same.txt replaces
// both stored entries of the name, and the earlier content must live on.
TEST_F(recovery_fixture, AnUnreadableFileDoesNotCostADuplicateNameItsContent) {
  std::string text;
  for (int line = 0; text.size() < 1'000'000; ++line) text += fmt::format("line {} of the damaged file\n", line);
  archive::write_options batched;
  batched.plan.mode = archive::pack_mode::batched;  // a folder per file: the damage stays in one
  std::vector<archive::entry> entries;
  for (const auto& [path, content] :
       {std::pair<std::string, std::string>{"bad.txt", text}, {"same.txt", "first\n"}, {"same.txt", "second\n"}}) {
    archive::entry e;
    e.path = path;
    e.mode = 0644;
    e.mtime = {1'700'000'000, 0};
    e.size = content.size();
    e.content = std::make_shared<archive::memory_content>(content);
    entries.push_back(std::move(e));
  }
  archive::create_archive(archive.string(), {}, entries, batched);
  flip_byte(archive, 32 + 300);  // inside bad.txt's data
  {
    auto filesystem = open();
    const auto shown = filesystem->lookup(kRootInode, "same_1.txt");
    ASSERT_TRUE(shown);
    EXPECT_EQ(read_all(*filesystem, shown->st_ino), "first\n");
    ASSERT_TRUE(filesystem->rename(kRootInode, "bad.txt", kRootInode, "bad2.txt", 0));
    ASSERT_TRUE(filesystem->unlink(kRootInode, "same.txt"));
    make_file(*filesystem, kRootInode, "same.txt", "third\n");
    const auto saved = filesystem->save_for_recovery();
    ASSERT_TRUE(saved) << saved.error().message;
    EXPECT_EQ(saved->left_out, 1u);
  }
  const auto committed = fs::commit_recovery_archive(small_daemon_options(archive), log.logger());
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_EQ(listing(archive), "Path = bad.txt\nPath = same.txt\nPath = same_1.txt\n");
  EXPECT_EQ(extracted(archive, "same_1.txt"), "first\n");
  EXPECT_EQ(extracted(archive, "same.txt"), "third\n");
}

// The same for a renamed directory whose file is left out: the file keeps
// its old path, and the directory above it its entry (without it the next
// mount would show the private directory as one of mode 0755); the file
// appended to and renamed keeps its old name when its appends are left out.
TEST_F(recovery_fixture, WhatALeftOutFileKeepsIncludesTheDirectoriesAboveIt) {
  std::string text;
  for (int line = 0; text.size() < 1'000'000; ++line) text += fmt::format("line {} of the file\n", line);
  {
    auto filesystem = open();
    const auto d = filesystem->mkdir(kRootInode, "d", 0700, me);
    ASSERT_TRUE(d);
    make_file(*filesystem, d->st_ino, "x.txt", text);
    ASSERT_TRUE(filesystem->commit_everything());  // the archive's first folder
    make_file(*filesystem, kRootInode, "log.dat", text);
    ASSERT_TRUE(filesystem->commit_everything());  // the second
    make_file(*filesystem, kRootInode, "gone.bin", "removed\n");
    ASSERT_TRUE(filesystem->final_commit());
  }
  const auto first_folder_end = [&] {
    const auto listed = run("7zz l -slt " + quote(archive.string()) + " | grep -m1 '^Packed Size = '").output;
    return 32 + std::stoull(listed.substr(listed.find('=') + 2));
  }();
  flip_byte(archive, 32 + 300);                // inside d/x.txt's data
  flip_byte(archive, first_folder_end + 300);  // inside log.dat's
  {
    auto filesystem = open();
    ASSERT_TRUE(filesystem->rename(kRootInode, "d", kRootInode, "e", 0));
    const auto looked_up = filesystem->lookup(kRootInode, "log.dat");
    ASSERT_TRUE(looked_up);
    ASSERT_TRUE(filesystem->open(looked_up->st_ino, O_WRONLY | O_APPEND));
    ASSERT_TRUE(filesystem->write(looked_up->st_ino, bytes_of_text("appended\n"), static_cast<off_t>(text.size())));
    filesystem->release(looked_up->st_ino, O_WRONLY);
    ASSERT_TRUE(filesystem->rename(kRootInode, "log.dat", kRootInode, "log2.dat", 0));
    ASSERT_TRUE(filesystem->unlink(kRootInode, "gone.bin"));
    const auto saved = filesystem->save_for_recovery();
    ASSERT_TRUE(saved) << saved.error().message;
    EXPECT_EQ(saved->left_out, 1u);
    EXPECT_EQ(saved->appends_lost, 1u);
    EXPECT_EQ(saved->removals, 1u);
  }
  EXPECT_EQ(read_file(fs::removals_path_of(recovery.string())),
            std::string(fs::kRemovalsHeading) + std::string("gone.bin\0", 9));
  const auto committed = fs::commit_recovery_archive(small_daemon_options(archive), log.logger());
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_EQ(listing(archive), "Path = d\nPath = d/x.txt\nPath = e\nPath = log.dat\n");
}

// A save without removals removes a list an interrupted save left beside
// the archive before it puts its recovery archive there: the two must not
// pair.
TEST_F(recovery_fixture, ASaveWithoutRemovalsRemovesAStaleList) {
  auto filesystem = open();
  make_file(*filesystem, kRootInode, "kept.txt", "kept\n");
  ASSERT_TRUE(filesystem->commit_everything());
  const auto stale = fs::removals_path_of(recovery.string());
  write_file(stale, std::string(fs::kRemovalsHeading) + std::string("kept.txt\0", 9));
  std::filesystem::permissions(stale, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  make_file(*filesystem, kRootInode, "new.txt", "new\n");
  const auto saved = filesystem->save_for_recovery();
  ASSERT_TRUE(saved) << saved.error().message;
  EXPECT_EQ(saved->removals, 0u);
  EXPECT_TRUE(std::filesystem::exists(recovery));
  EXPECT_FALSE(std::filesystem::exists(stale));
}

// What a mount finds at a list's name that a save did not write: a FIFO
// (which must not hold the mount) refuses it; a file of another user (in a
// shared recovery_dir anyone can create one) is passed over.
TEST_F(recovery_fixture, AFifoOrAnotherUsersFileAtTheListsNameNeitherHoldsNorSteersTheMount) {
  {
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "kept.txt", "kept\n");
    ASSERT_TRUE(filesystem->commit_everything());
    make_file(*filesystem, kRootInode, "new.txt", "new\n");
    ASSERT_TRUE(filesystem->save_for_recovery());
  }
  const auto list = fs::removals_path_of(recovery.string());
  ASSERT_EQ(::mkfifo(list.c_str(), 0600), 0);
  const auto refused = fs::commit_recovery_archive(small_daemon_options(archive), log.logger());
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("is not a list of removed paths this user's daemon wrote"), std::string::npos)
      << refused.error().message;
  std::filesystem::remove(list);
  if (::geteuid() != 0) GTEST_SKIP() << "another user's file needs root to make";
  write_file(list, std::string(fs::kRemovalsHeading) + std::string("kept.txt\0", 9));
  ASSERT_EQ(::chown(list.c_str(), 65534, 65534), 0);
  const auto committed = fs::commit_recovery_archive(small_daemon_options(archive), log.logger());
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_EQ(listing(archive), "Path = kept.txt\nPath = new.txt\n") << "nothing removed";
  EXPECT_NE(log.text().find("belongs to another user (uid 65534): passed over"), std::string::npos) << log.text();
  EXPECT_TRUE(std::filesystem::exists(list)) << "not ours to remove";
}

// Creating a list fails on a name another user's file holds (the save then
// tries another name in recovery_dir), and never writes through a symlink.
TEST(RecoveryRemovals, AreCreatedWithoutReplacingAnotherUsersFileOrFollowingASymlink) {
  temp_dir dir;
  const std::string recovery = (dir / "r.7z").string();
  const std::string list = fs::removals_path_of(recovery);
  fs::write_removals(recovery, {"a", "b/c"});
  const auto read = fs::read_removals(recovery);
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_TRUE(read->paths);
  EXPECT_EQ(*read->paths, (std::vector<std::string>{"a", "b/c"}));
  fs::write_removals(recovery, {"d"});  // replaces a list of ours
  EXPECT_EQ(read_file(list), std::string(fs::kRemovalsHeading) + std::string("d\0", 2));
  std::filesystem::remove(list);
  std::filesystem::create_symlink(dir / "elsewhere", list);
  fs::write_removals(recovery, {"a"});  // a symlink of ours is replaced, not followed
  EXPECT_FALSE(std::filesystem::exists(dir / "elsewhere"));
  EXPECT_TRUE(std::filesystem::is_regular_file(std::filesystem::symlink_status(list)));
  std::filesystem::remove(list);
  if (::geteuid() != 0) GTEST_SKIP() << "another user's file needs root to make";
  write_file(list, "theirs");
  ASSERT_EQ(::chown(list.c_str(), 65534, 65534), 0);
  try {
    fs::write_removals(recovery, {"a"});
    ADD_FAILURE() << "wrote over another user's file";
  } catch (const archive::archive_error& e) {
    EXPECT_EQ(e.error_number(), EEXIST);
  }
  fs::remove_removals(recovery);
  EXPECT_EQ(read_file(list), "theirs") << "not ours to remove";
}

// Removals whose recovery archive is gone were left by an interrupted save
// (or a mount that stopped between removing the two): removed unread, and
// so are the temporaries their writes left in recovery_dir.
TEST_F(recovery_fixture, RemovalsWithoutTheirRecoveryArchiveAreRemovedUnread) {
  {
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "kept.txt", "kept\n");
    ASSERT_TRUE(filesystem->final_commit());
  }
  std::filesystem::create_directory(spare_dir);
  const std::string prefix = fs::spare_recovery_prefix(archive.string());
  const std::string listed = std::string(fs::kRemovalsHeading) + std::string("kept.txt\0", 9);
  for (const auto& path :
       {fs::removals_path_of(recovery.string()), (spare_dir / (prefix + "abcdef.7z.removed")).string(),
        (spare_dir / (prefix + "abcdef.7z.removed.tmp-ghijkl")).string()}) {
    write_file(path, listed);
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  const auto committed = fs::commit_recovery_archive(options(), log.logger());
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_FALSE(std::filesystem::exists(fs::removals_path_of(recovery.string())));
  EXPECT_EQ(spare_files(), std::vector<std::string>{});
  EXPECT_EQ(listing(archive), "Path = kept.txt\n") << "nothing was applied";
  EXPECT_NE(log.text().find("left without its recovery archive by an interrupted save or mount"), std::string::npos)
      << log.text();
}

// Removals that are not as a save makes them refuse the mount, and both
// files stay: the user decides whether the paths they list go.
TEST_F(recovery_fixture, RemovalsThatAreNotAsASaveMakesThemRefuseTheMount) {
  for (const bool readable_by_others : {true, false}) {
    SCOPED_TRACE(readable_by_others);
    std::filesystem::remove(archive);
    {
      auto filesystem = open();
      make_file(*filesystem, kRootInode, "kept.txt", "kept\n");
      make_file(*filesystem, kRootInode, "gone.txt", "gone\n");
      ASSERT_TRUE(filesystem->commit_everything());
      ASSERT_TRUE(filesystem->unlink(kRootInode, "gone.txt"));
      ASSERT_TRUE(filesystem->save_for_recovery());
    }
    const auto removals = fs::removals_path_of(recovery.string());
    if (readable_by_others) {
      std::filesystem::permissions(removals, std::filesystem::perms::others_read, std::filesystem::perm_options::add);
    } else {
      write_file(removals, "gone.txt\n");  // no heading
      std::filesystem::permissions(removals, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    }
    const std::string before = read_file(removals);
    const auto committed = fs::commit_recovery_archive(small_daemon_options(archive), log.logger());
    ASSERT_FALSE(committed);
    EXPECT_FALSE(committed.error().commit_failed);
    EXPECT_NE(committed.error().message.find("to mount, move " + removals + " away"), std::string::npos)
        << committed.error().message;
    EXPECT_TRUE(std::filesystem::exists(recovery));
    EXPECT_EQ(read_file(removals), before);
    EXPECT_EQ(listing(archive), "Path = gone.txt\nPath = kept.txt\n");
    std::filesystem::remove(removals);
    std::filesystem::remove(recovery);
  }
}

TEST(SpareRecoveryPrefix, NamesTheArchivesWholePathAndFitsAFileName) {
  EXPECT_EQ(fs::spare_recovery_prefix("/srv/a.7z"), "sevenzfs-srv-a.7z.recovery-");
  // '-' is escaped: /srv/a-b.7z and /srv/a/b.7z are different archives.
  EXPECT_EQ(fs::spare_recovery_prefix("/srv/a-b.7z"), "sevenzfs-srv-a\\x2db.7z.recovery-");
  EXPECT_EQ(fs::spare_recovery_prefix("/srv/a/b.7z"), "sevenzfs-srv-a-b.7z.recovery-");
  EXPECT_EQ(fs::spare_recovery_prefix("/srv/.hidden 1.7z"),
            "sevenzfs-srv-.hidden\\x201.7z.recovery-");  // as systemd-escape --path
  const std::string deep = "/" + std::string(300, 'd') + "/a.7z";
  const std::string other = "/" + std::string(299, 'd') + "e/a.7z";
  const std::string name = fs::spare_recovery_prefix(deep) + "XXXXXX.7z";
  EXPECT_LE(name.size(), 255u) << name;
  EXPECT_TRUE(name.ends_with("ddd-a.7z.recovery-XXXXXX.7z")) << name;
  EXPECT_NE(fs::spare_recovery_prefix(deep), fs::spare_recovery_prefix(other)) << "the CRC tells them apart";
  // Escapes are kept whole: the shortened name still unescapes.
  std::string accented = "/";
  for (int k = 0; k < 100; ++k) accented += "\xc3\xa9";  // é
  const std::string short_name = fs::spare_recovery_prefix(accented);
  const std::string tail = short_name.substr(std::string("sevenzfs-12345678-").size());
  EXPECT_TRUE(tail.starts_with("\\xc3\\xa9")) << short_name;
  EXPECT_EQ((tail.size() - std::string(".recovery-").size()) % 8, 0u) << short_name;
}

// The archive's disk is full when a final commit fails, so the recovery
// archive may not fit beside it either: then it goes into recovery_dir, and
// the next mount commits it from there. (Here a directory in its way makes
// the write beside the archive fail.)
TEST_F(recovery_fixture, ARecoveryArchiveThatCannotGoBesideTheArchiveIsKeptInRecoveryDirAndCommittedFromThere) {
  std::filesystem::create_directory(spare_dir);
  {
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "kept.txt", "committed\n");
    make_file(*filesystem, kRootInode, "gone.txt", "removed\n");
    ASSERT_TRUE(filesystem->commit_everything());
    make_file(*filesystem, kRootInode, "late.bin", std::string(200'000, 'l'));
    ASSERT_TRUE(filesystem->unlink(kRootInode, "gone.txt"));
    std::filesystem::create_directory(recovery);
    const auto saved = filesystem->save_for_recovery();
    ASSERT_TRUE(saved) << saved.error().message;
    ASSERT_EQ(spare_files().size(), 2u) << "the recovery archive and its removals";
    const std::string name = spare_files().front();
    EXPECT_EQ(spare_files().back(), name + ".removed");
    EXPECT_FALSE(std::filesystem::exists(fs::removals_path_of(recovery.string()))) << "not beside the archive";
    EXPECT_EQ(saved->path, (spare_dir / name).string());
    EXPECT_TRUE(name.starts_with(fs::spare_recovery_prefix(archive.string()))) << name;
    EXPECT_NE(saved->not_beside.find("is not a recovery archive"), std::string::npos) << saved->not_beside;
    struct stat st {};
    ASSERT_EQ(::stat(saved->path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(run("7zz t " + quote(saved->path) + " >/dev/null").exit_code, 0);
    EXPECT_EQ(extracted(saved->path, "late.bin"), std::string(200'000, 'l'));
  }
  std::filesystem::remove(recovery);

  std::vector<std::string> told;
  const auto committed =
      fs::commit_recovery_archive(options(), log.logger(), [&](const std::string& path) { told.push_back(path); });
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_EQ(spare_files(), std::vector<std::string>{}) << "removed once committed";
  ASSERT_EQ(told.size(), 1u);
  EXPECT_TRUE(told.front().starts_with(spare_dir.string() + "/sevenzfs-")) << told.front();
  EXPECT_EQ(listing(archive), "Path = kept.txt\nPath = late.bin\n");
  EXPECT_EQ(extracted(archive, "late.bin"), std::string(200'000, 'l'));
}

// When one is written nowhere, the message says what is lost, and nothing is left behind.
TEST_F(recovery_fixture, WhenTheRecoveryArchiveCanBeWrittenNowhereTheMessageSaysWhatIsLost) {
  // spare_dir is not made: recovery_dir is gone.
  auto filesystem = open();
  make_file(*filesystem, kRootInode, "late.bin", std::string(1000, 'l'));
  std::filesystem::create_directory(recovery);
  const auto saved = filesystem->save_for_recovery();
  ASSERT_FALSE(saved);
  EXPECT_NE(saved.error().message.find("nor in " + spare_dir.string()), std::string::npos) << saved.error().message;
  EXPECT_NE(saved.error().message.find("lost: 1 files (1000 bytes)"), std::string::npos) << saved.error().message;
  EXPECT_FALSE(std::filesystem::exists(spare_dir));
}

// Several recovery archives (one beside the archive, one in recovery_dir)
// are committed oldest first: the newer one's version of a path wins.
TEST_F(recovery_fixture, RecoveryArchivesAreCommittedOldestFirst) {
  std::filesystem::create_directory(spare_dir);
  const auto moved_aside = dir / "older.7z";
  for (const bool spare_is_newer : {true, false}) {
    SCOPED_TRACE(spare_is_newer);
    std::filesystem::remove(archive);
    {
      auto filesystem = open();
      make_file(*filesystem, kRootInode, "f.txt", "beside\n");
      ASSERT_TRUE(filesystem->save_for_recovery());
    }
    std::filesystem::rename(recovery, moved_aside);
    {
      auto filesystem = open();
      make_file(*filesystem, kRootInode, "f.txt", "spare\n");
      std::filesystem::create_directory(recovery);
      ASSERT_TRUE(filesystem->save_for_recovery());
      std::filesystem::remove(recovery);
    }
    std::filesystem::rename(moved_aside, recovery);
    ASSERT_EQ(spare_files().size(), 1u);
    // The one to be older a day back.
    const auto older = spare_is_newer ? recovery : spare_dir / spare_files().front();
    const timespec times[2] = {{::time(nullptr) - 86400, 0}, {::time(nullptr) - 86400, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, older.c_str(), times, 0), 0);
    const auto committed = fs::commit_recovery_archive(options(), log.logger());
    ASSERT_TRUE(committed) << committed.error().message;
    EXPECT_EQ(extracted(archive, "f.txt"), spare_is_newer ? "spare\n" : "beside\n");
    EXPECT_FALSE(std::filesystem::exists(recovery));
    EXPECT_EQ(spare_files(), std::vector<std::string>{});
  }
}

// recovery_dir is shared (/var/tmp): a file there named for this archive
// that another user owns is not committed into it, nor are the recovery
// archives of other archives.
TEST_F(recovery_fixture, FilesInRecoveryDirThatAreNotThisArchivesRecoveryArchivesAreLeftAlone) {
  std::filesystem::create_directory(spare_dir);
  const std::string prefix = fs::spare_recovery_prefix(archive.string());
  const auto planted = spare_dir / (prefix + "abcdef.7z");
  const auto other_archive = spare_dir / (fs::spare_recovery_prefix(archive.string() + "x") + "abcdef.7z");
  const auto other_name = spare_dir / (prefix + "abcdefg.7z");
  {
    // A real recovery archive, so only the checks keep it out.
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "planted.txt", "not ours\n");
    ASSERT_TRUE(filesystem->save_for_recovery());
  }
  // Ours by owner, but readable by others, or hard-linked from elsewhere:
  // not as the save makes them.
  const auto open_mode = spare_dir / (prefix + "ghijkl.7z");
  const auto linked = spare_dir / (prefix + "mnopqr.7z");
  for (const auto& copy : {planted, other_archive, other_name, open_mode}) std::filesystem::copy_file(recovery, copy);
  ASSERT_EQ(::chmod(open_mode.c_str(), 0644), 0);
  std::filesystem::create_hard_link(recovery, linked);
  std::filesystem::rename(recovery, dir / "elsewhere.7z");  // the other link
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(planted.c_str(), 65534, 65534), 0);
  } else {
    std::filesystem::remove(planted);
    std::filesystem::create_directory(planted);  // not a regular file: the same check
  }
  const auto committed = fs::commit_recovery_archive(options(), log.logger());
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_FALSE(std::filesystem::exists(archive)) << "nothing was committed";
  EXPECT_EQ(spare_files().size(), 5u);
  for (const auto& left : {planted, open_mode, linked}) {
    EXPECT_NE(log.text().find(fmt::format("{:?} is named as a recovery archive of {} but is not one this user's "
                                          "daemon wrote",
                                          left.string(), archive.string())),
              std::string::npos)
        << left << "\n"
        << log.text();
  }
}

// A save that ended midway in recovery_dir left its empty target and the
// temporary its archive was being written in: the next mount removes both.
TEST_F(recovery_fixture, WhatAnInterruptedSaveLeftInRecoveryDirIsRemoved) {
  std::filesystem::create_directory(spare_dir);
  const std::string prefix = fs::spare_recovery_prefix(archive.string());
  write_file(spare_dir / (prefix + "abcdef.7z"), "");
  std::filesystem::permissions(spare_dir / (prefix + "abcdef.7z"),
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);  // as made
  write_file(spare_dir / (prefix + "abcdef.7z.tmp-ghijkl"), "half an archive");
  write_file(spare_dir / (prefix + "abcdef.7z.tmp-toolong"), "not a temporary of ours");
  {
    // Committed since: the empty one is older than the archive, which it cannot undo anything of.
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "f.txt", "committed since\n");
    ASSERT_TRUE(filesystem->final_commit());
  }
  const timespec day_ago[2] = {{::time(nullptr) - 86400, 0}, {::time(nullptr) - 86400, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (spare_dir / (prefix + "abcdef.7z")).c_str(), day_ago, 0), 0);
  const auto committed = fs::commit_recovery_archive(options(), log.logger());
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_EQ(spare_files(), std::vector<std::string>{prefix + "abcdef.7z.tmp-toolong"});
  EXPECT_NE(log.text().find("left behind by a recovery save that did not end"), std::string::npos) << log.text();
  EXPECT_NE(log.text().find("an empty recovery archive left by an interrupted save"), std::string::npos) << log.text();
}

// A recovery archive in recovery_dir older than the archive was passed over
// by a mount that committed since (another recovery_dir, another user):
// committed now, it could undo those changes. The user decides.
TEST_F(recovery_fixture, ARecoveryArchiveInRecoveryDirOlderThanTheArchiveRefusesTheMount) {
  std::filesystem::create_directory(spare_dir);
  {
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "f.txt", "kept after a failed commit\n");
    std::filesystem::create_directory(recovery);
    ASSERT_TRUE(filesystem->save_for_recovery());
    std::filesystem::remove(recovery);
  }
  ASSERT_EQ(spare_files().size(), 1u);
  const auto spare = spare_dir / spare_files().front();
  const timespec day_ago[2] = {{::time(nullptr) - 86400, 0}, {::time(nullptr) - 86400, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, spare.c_str(), day_ago, 0), 0);
  {
    // A later session, which did not see it, committed a newer f.txt.
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "f.txt", "newer\n");
    ASSERT_TRUE(filesystem->final_commit());
  }
  const auto committed = fs::commit_recovery_archive(options(), log.logger());
  ASSERT_FALSE(committed);
  EXPECT_FALSE(committed.error().commit_failed);
  EXPECT_NE(committed.error().message.find("changed after it was written"), std::string::npos)
      << committed.error().message;
  EXPECT_NE(committed.error().message.find("move it to " + recovery.string()), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(spare));
  EXPECT_EQ(extracted(archive, "f.txt"), "newer\n");

  // Moved beside the archive, it is the user's word: committed.
  std::filesystem::rename(spare, recovery);
  const auto forced = fs::commit_recovery_archive(options(), log.logger());
  ASSERT_TRUE(forced) << forced.error().message;
  EXPECT_EQ(extracted(archive, "f.txt"), "kept after a failed commit\n");
}

// A recovery_dir that cannot be listed refuses the mount: what it holds
// would otherwise be committed later, over newer changes.
TEST_F(recovery_fixture, ARecoveryDirThatCannotBeListedRefusesTheMount) {
  write_file(spare_dir, "not a directory");
  const auto committed = fs::commit_recovery_archive(options(), log.logger());
  ASSERT_FALSE(committed);
  EXPECT_NE(committed.error().message.find("cannot look for recovery archives of " + archive.string() + " in " +
                                           spare_dir.string() + " (recovery_dir)"),
            std::string::npos)
      << committed.error().message;
}

// The directory's fsync after the recovery archive was renamed into place
// failed: the archive is complete, and is kept (it used to be removed as if
// nothing had been written).
TEST_F(recovery_fixture, ARecoveryArchiveRenamedIntoPlaceIsKeptWhenItsDirectorysFsyncFails) {
  auto filesystem = open();
  make_file(*filesystem, kRootInode, "late.bin", std::string(5000, 'l'));
  ::setenv("SEVENZFS_TEST_FAIL_DIRECTORY_SYNC", "1", 1);
  const auto saved = filesystem->save_for_recovery();
  ::unsetenv("SEVENZFS_TEST_FAIL_DIRECTORY_SYNC");
  ASSERT_TRUE(saved) << saved.error().message;
  EXPECT_EQ(saved->path, recovery.string());
  EXPECT_EQ(extracted(recovery, "late.bin"), std::string(5000, 'l'));
}

// A recovery archive kept in the default recovery_dir (/var/tmp) while this
// mount uses another: passed over, it would go stale at this mount's first
// commit. The mount is refused and says where it is.
TEST_F(recovery_fixture, ARecoveryArchiveInTheDefaultRecoveryDirRefusesAMountWithAnotherOne) {
  std::filesystem::create_directory(spare_dir);
  const std::string usual = std::string(fs::kDefaultRecoveryDir);
  if (::access(usual.c_str(), W_OK) != 0) GTEST_SKIP() << usual << " is not writable here";
  {
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "f.txt", "kept in /var/tmp\n");
    ASSERT_TRUE(filesystem->save_for_recovery());
  }
  const auto kept = std::filesystem::path(usual) / (fs::spare_recovery_prefix(archive.string()) + "abcdef.7z");
  std::filesystem::rename(recovery, dir / "moved.7z");
  std::filesystem::copy_file(dir / "moved.7z", kept);
  struct removed_at_end {
    std::filesystem::path path;
    ~removed_at_end() { std::filesystem::remove(path); }
  } cleanup{kept};
  ASSERT_EQ(::chmod(kept.c_str(), 0600), 0);

  const auto committed = fs::commit_recovery_archive(options(), log.logger());
  ASSERT_FALSE(committed);
  EXPECT_NE(committed.error().message.find(kept.string() + " holds what a failed final commit of " + archive.string() +
                                           " kept with recovery_dir=" + usual + " (the default)"),
            std::string::npos)
      << committed.error().message;
  EXPECT_TRUE(std::filesystem::exists(kept));

  // With the default recovery_dir, the mount commits it.
  auto usual_options = options();
  usual_options.recovery_dir = usual;
  const auto with_usual = fs::commit_recovery_archive(usual_options, log.logger());
  ASSERT_TRUE(with_usual) << with_usual.error().message;
  EXPECT_FALSE(std::filesystem::exists(kept));
  EXPECT_EQ(extracted(archive, "f.txt"), "kept in /var/tmp\n");
}
