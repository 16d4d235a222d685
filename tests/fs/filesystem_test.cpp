// The filesystem driven directly, as the FUSE callbacks drive it, without a
// mount or root: the tree, content, commits into a real archive (judged by
// 7zz), reopening it, statistics and errors.
#include "fs_test_support.hpp"
#include "test_support.hpp"

#include "fs/archive_lock.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <optional>
#include <thread>
#include <vector>

using namespace sevenzfs;
using namespace sevenzfs::test;
using fs::kRootInode;

namespace {

struct filesystem_fixture : testing::Test {
  temp_dir dir;
  std::filesystem::path archive = dir / "a.7z";
  captured_log log;
  fs::caller me{::getuid(), ::getgid(), {}};

  std::unique_ptr<fs::filesystem> open() {
    return std::make_unique<fs::filesystem>(small_daemon_options(archive), log.logger());
  }

  std::string listing() {
    return run("7zz l -ba -slt " + quote(archive.string()) + " | grep '^Path = ' | LC_ALL=C sort").output;
  }

  // Creates `name` open for writing, with `text` written: its inode number,
  // 0 when either step failed.
  fs::inode_number open_with(fs::filesystem& filesystem, const std::string& name, const std::string& text) {
    const auto made = filesystem.create(kRootInode, name, S_IFREG | 0644, O_WRONLY, me);
    if (!made || !filesystem.write(made->st_ino, bytes_of_text(text), 0)) return 0;
    return made->st_ino;
  }

  bool logged(const std::string& text) const { return log.text().find(text) != std::string::npos; }

  std::string extracted(const std::string& member) {
    return run("7zz e -so " + quote(archive.string()) + " " + quote(member)).output;
  }
};

// Options for tests that need a commit busy for a while: level 5, room for
// a few MB of staged text, and `settle` before closed files go to the
// compressor.
fs::daemon_options busy_options(const std::filesystem::path& archive, std::chrono::milliseconds settle) {
  auto options = small_daemon_options(archive);
  options.pool_bytes = 64u << 20;
  options.write.compression.level = 5;
  options.settle = settle;
  return options;
}

// Text that level 5 compresses at about 2 MB/s: keeps a commit busy.
std::string slow_text(std::size_t bytes) {
  std::string text;
  for (std::uint64_t i = 0; text.size() < bytes; ++i)
    text += fmt::format("record {} holds {}\n", i, i * 2654435761u % 1000003);
  return text;
}

// What the statistics count as pending: bytes handed to the compressor,
// and those of the running commit once it has taken its snapshot.
std::uint64_t pending_bytes(fs::filesystem& filesystem) {
  const auto bytes = filesystem.getxattr(kRootInode, "user.sevenzfs.commit_pending_bytes", false);
  return bytes ? std::stoull(*bytes) : 0;
}

fs::inode_number entry_of(fs::filesystem& filesystem, fs::inode_number parent, const std::string& name) {
  const auto found = filesystem.lookup(parent, name);
  return found ? found->st_ino : 0;
}

}  // namespace

TEST_F(filesystem_fixture, WrittenFilesReadBackBeforeAnyCommit) {
  auto filesystem = open();
  const std::string text(100000, 'q');
  const auto file = make_file(*filesystem, kRootInode, "f.txt", text);
  const auto attr = filesystem->getattr(file);
  ASSERT_TRUE(attr);
  EXPECT_EQ(attr->st_size, 100000);
  EXPECT_TRUE(S_ISREG(attr->st_mode));
  EXPECT_EQ(read_all(*filesystem, file, 777), text);
  EXPECT_EQ(filesystem->getxattr(kRootInode, "user.sevenzfs.staged_files", false).value_or("?"), "1");
  EXPECT_EQ(filesystem->getxattr(file, "user.sevenzfs.state", false).value_or("?"),
            R"({"state":"staged","size":100000})");
  EXPECT_EQ(filesystem->listxattr(file).value_or("?"), "") << "read by name only: cp -a would copy it out";
  EXPECT_FALSE(std::filesystem::exists(archive)) << "nothing is written before a commit";
}

// Sizes up to 2^63-1 (truncate -s, sparse) add up without wrapping.
TEST_F(filesystem_fixture, StagedBytesOfHugeSparseFilesDoNotWrap) {
  auto filesystem = open();
  for (const char* name : {"a", "b"}) {
    const auto file = make_file(*filesystem, kRootInode, name, "x");
    fs::attribute_changes changes;
    changes.size = INT64_MAX;
    ASSERT_TRUE(filesystem->setattr(file, changes));
  }
  make_file(*filesystem, kRootInode, "c", "past 2^64");
  EXPECT_EQ(filesystem->getxattr(kRootInode, "user.sevenzfs.staged_bytes", false).value_or("?"),
            std::to_string(UINT64_MAX));
}

// fallocate: mode 0 extends the file with zeros (and never shrinks it);
// FALLOC_FL_KEEP_SIZE reserves nothing and changes nothing; the modes that
// would change bytes inside the file are refused, as on a directory.
TEST_F(filesystem_fixture, AllocatingExtendsWithZerosAndKeepSizeChangesNothing) {
  auto filesystem = open();
  const auto file = make_file(*filesystem, kRootInode, "f", "abc");
  ASSERT_TRUE(filesystem->allocate(file, 0, 0, 2));
  EXPECT_EQ(filesystem->getattr(file)->st_size, 3) << "not shrunk";
  ASSERT_TRUE(filesystem->allocate(file, 0, 4, 6));
  EXPECT_EQ(filesystem->getattr(file)->st_size, 10);
  EXPECT_EQ(read_all(*filesystem, file, 100), std::string("abc\0\0\0\0\0\0\0", 10));
  ASSERT_TRUE(filesystem->allocate(file, FALLOC_FL_KEEP_SIZE, 0, 1 << 20));
  EXPECT_EQ(filesystem->getattr(file)->st_size, 10);
  const auto code = [](const fs::result<void>& done) { return done ? 0 : done.error().code; };
  EXPECT_EQ(code(filesystem->allocate(file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 2)), EOPNOTSUPP);
  EXPECT_EQ(code(filesystem->allocate(file, FALLOC_FL_ZERO_RANGE, 0, 2)), EOPNOTSUPP);
  EXPECT_EQ(code(filesystem->allocate(file, 0, UINT64_MAX - 1, 2)), EFBIG);
  EXPECT_EQ(code(filesystem->allocate(kRootInode, 0, 0, 1)), EISDIR);
  EXPECT_EQ(read_all(*filesystem, file, 100), std::string("abc\0\0\0\0\0\0\0", 10)) << "refusals change nothing";
}

// Our attributes are computed: removing one (rsync -X does, for names its
// source lacks) succeeds and changes nothing; a name that is not there, or
// a symlink's state, is ENODATA, and a stale inode says so. Setting one of
// the root's statistics (rsync -X copying a backup of the root back)
// succeeds and changes nothing too; setting a file's state is ENOTSUP.
TEST_F(filesystem_fixture, RemovingOrSettingAComputedAttributeChangesNothing) {
  auto filesystem = open();
  const auto file = make_file(*filesystem, kRootInode, "f.txt", "text");
  const auto directory = filesystem->mkdir(kRootInode, "d", 0755, me)->st_ino;
  const auto link = filesystem->symlink("f.txt", kRootInode, "link", me)->st_ino;
  EXPECT_TRUE(filesystem->removexattr(kRootInode, "user.sevenzfs.staged_files"));
  EXPECT_TRUE(filesystem->removexattr(kRootInode, "user.sevenzfs.stats"));
  EXPECT_EQ(filesystem->getxattr(kRootInode, "user.sevenzfs.staged_files", false).value_or("?"), "2")
      << "f.txt and the link";
  EXPECT_TRUE(filesystem->removexattr(file, "user.sevenzfs.state"));
  EXPECT_TRUE(filesystem->removexattr(directory, "user.sevenzfs.state"));
  EXPECT_EQ(filesystem->getxattr(file, "user.sevenzfs.state", false).value_or("?"), R"({"state":"staged","size":4})");
  const auto code = [&](fs::inode_number number, const char* name) {
    const auto removed = filesystem->removexattr(number, name);
    return removed ? 0 : removed.error().code;
  };
  EXPECT_EQ(code(kRootInode, "user.sevenzfs.no_such_figure"), ENODATA);
  EXPECT_EQ(code(file, "user.sevenzfs.staged_files"), ENODATA);
  EXPECT_EQ(code(link, "user.sevenzfs.state"), ENODATA);
  EXPECT_EQ(code(987654, "user.sevenzfs.state"), ENOENT);
  EXPECT_TRUE(filesystem->setxattr(kRootInode, "user.sevenzfs.staged_files", "99", me));
  EXPECT_TRUE(filesystem->setxattr(kRootInode, "user.sevenzfs.stats", "{}", me));
  EXPECT_EQ(filesystem->getxattr(kRootInode, "user.sevenzfs.staged_files", false).value_or("?"), "2");
  const auto set_code = [&](fs::inode_number number, const char* name) {
    const auto set = filesystem->setxattr(number, name, "1", me);
    return set ? 0 : set.error().code;
  };
  EXPECT_EQ(set_code(kRootInode, "user.sevenzfs.no_such_figure"), ENOTSUP);
  EXPECT_EQ(set_code(file, "user.sevenzfs.state"), ENOTSUP);
  EXPECT_EQ(set_code(file, "user.sevenzfs.staged_files"), ENOTSUP);
}

TEST_F(filesystem_fixture, ACommitWritesTheTreeAsAnArchive) {
  auto filesystem = open();
  const auto sub = filesystem->mkdir(kRootInode, "sub", 0750, me);
  ASSERT_TRUE(sub);
  make_file(*filesystem, sub->st_ino, "a.txt", "alpha\n");
  make_file(*filesystem, kRootInode, "empty", "");
  ASSERT_TRUE(filesystem->symlink("sub/a.txt", kRootInode, "link", me));
  ASSERT_TRUE(filesystem->commit_everything());

  const auto tested = run("7zz t " + quote(archive.string()));
  EXPECT_EQ(tested.exit_code, 0) << tested.output;
  EXPECT_EQ(listing(), "Path = empty\nPath = link\nPath = sub\nPath = sub/a.txt\n");
  EXPECT_EQ(extracted("sub/a.txt"), "alpha\n");
  EXPECT_EQ(filesystem->getxattr(kRootInode, "user.sevenzfs.commits_total", false).value_or("?"), "1");
  EXPECT_EQ(filesystem->getxattr(kRootInode, "user.sevenzfs.staged_files", false).value_or("?"), "0")
      << "committed files give their memory back";
  const auto state = filesystem->getxattr(entry_of(*filesystem, sub->st_ino, "a.txt"), "user.sevenzfs.state", false);
  EXPECT_EQ(state.value_or("?").substr(0, 19), R"({"state":"archived")");
  auto target = filesystem->readlink(entry_of(*filesystem, kRootInode, "link"));
  EXPECT_EQ(target.value_or("?"), "sub/a.txt") << "a symlink made in this mount stays readable";
  // The kernel reads no user. attribute of a symlink: none is listed.
  EXPECT_EQ(filesystem->listxattr(entry_of(*filesystem, kRootInode, "link")).value_or("?"), "");
}

TEST_F(filesystem_fixture, ReopeningTheArchiveShowsWhatWasCommitted) {
  {
    auto filesystem = open();
    const auto sub = filesystem->mkdir(kRootInode, "sub", 0700, me);
    make_file(*filesystem, sub->st_ino, "ro.txt", "read only\n", 0444);
    ASSERT_TRUE(filesystem->final_commit());
  }
  auto filesystem = open();
  const auto sub = entry_of(*filesystem, kRootInode, "sub");
  ASSERT_NE(sub, 0u);
  const auto dir_attr = filesystem->getattr(sub);
  ASSERT_TRUE(dir_attr);
  EXPECT_TRUE(S_ISDIR(dir_attr->st_mode));
  EXPECT_EQ(dir_attr->st_mode & 07777, 0700u);
  const auto file = entry_of(*filesystem, sub, "ro.txt");
  const auto attr = filesystem->getattr(file);
  ASSERT_TRUE(attr);
  EXPECT_EQ(attr->st_size, 10);
  EXPECT_EQ(attr->st_mode & 07777, 0444u);
  // Appending a second commit keeps the first one's data.
  make_file(*filesystem, kRootInode, "second.txt", "two\n");
  ASSERT_TRUE(filesystem->final_commit());
  EXPECT_EQ(extracted("sub/ro.txt"), "read only\n");
  EXPECT_EQ(extracted("second.txt"), "two\n");
}

TEST_F(filesystem_fixture, RenamesAndRemovalsBeforeACommitAreWhatItStores) {
  auto filesystem = open();
  make_file(*filesystem, kRootInode, "old", "moved\n");
  make_file(*filesystem, kRootInode, "gone", "deleted\n");
  const auto d = filesystem->mkdir(kRootInode, "d", 0755, me);
  ASSERT_TRUE(filesystem->rename(kRootInode, "old", d->st_ino, "new", 0));
  ASSERT_TRUE(filesystem->unlink(kRootInode, "gone"));
  ASSERT_TRUE(filesystem->commit_everything());
  EXPECT_EQ(listing(), "Path = d\nPath = d/new\n");
  EXPECT_EQ(extracted("d/new"), "moved\n");
}

TEST_F(filesystem_fixture, TreeRulesAreThoseOfAPosixFilesystem) {
  auto filesystem = open();
  const auto d = filesystem->mkdir(kRootInode, "d", 0755, me);
  ASSERT_TRUE(d);
  const auto inner = filesystem->mkdir(d->st_ino, "inner", 0755, me);
  make_file(*filesystem, kRootInode, "f", "x");
  make_file(*filesystem, kRootInode, "g", "y");
  EXPECT_EQ(filesystem->mkdir(kRootInode, "d", 0755, me).error().code, EEXIST);
  EXPECT_EQ(filesystem->rmdir(kRootInode, "d").error().code, ENOTEMPTY);
  EXPECT_EQ(filesystem->unlink(kRootInode, "d").error().code, EISDIR);
  EXPECT_EQ(filesystem->rmdir(kRootInode, "f").error().code, ENOTDIR);
  EXPECT_EQ(filesystem->rename(kRootInode, "d", inner->st_ino, "loop", 0).error().code, EINVAL);
  EXPECT_EQ(filesystem->rename(kRootInode, "f", kRootInode, "g", RENAME_NOREPLACE).error().code, EEXIST);
  EXPECT_EQ(filesystem->rename(kRootInode, "f", kRootInode, "d", 0).error().code, EISDIR);
  EXPECT_EQ(filesystem->lookup(kRootInode, "missing").error().code, ENOENT);
  EXPECT_EQ(filesystem->mkdir(kRootInode, std::string(256, 'n'), 0755, me).error().code, ENAMETOOLONG);
  EXPECT_EQ(filesystem->mkdir(kRootInode, "..", 0755, me).error().code, EINVAL);
  const auto latin1 = filesystem->create(kRootInode, "caf\xe9.txt", S_IFREG | 0644, O_WRONLY, me);
  ASSERT_FALSE(latin1);
  EXPECT_EQ(latin1.error().code, EILSEQ) << "a name 7z cannot store is refused when it is made";
  EXPECT_NE(latin1.error().message.find("caf\\xe9.txt"), std::string::npos) << latin1.error().message;
  EXPECT_EQ(filesystem->rename(kRootInode, "g", kRootInode, "\xff", 0).error().code, EILSEQ);
  ASSERT_TRUE(filesystem->rename(kRootInode, "f", kRootInode, "g", 0)) << "a file replaces a file";
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "g")), "x");

  const auto fifo = filesystem->mknod(kRootInode, "fifo", S_IFIFO | 0644, me);
  ASSERT_FALSE(fifo);
  EXPECT_EQ(fifo.error().code, EPERM);
  EXPECT_NE(fifo.error().message.find("7z stores no device nodes"), std::string::npos) << "the reason is logged";
  const auto link = filesystem->link();
  EXPECT_EQ(link.error().code, EPERM);
  EXPECT_NE(link.error().message.find("hard links are not supported"), std::string::npos) << "the reason is logged";
  const auto again = filesystem->link();
  EXPECT_EQ(again.error().code, EPERM);
  EXPECT_EQ(again.error().message, "") << "once per mount: git tries a link per object";
}

TEST_F(filesystem_fixture, ReaddirOffsetsStayValidWhileEntriesChange) {
  auto filesystem = open();
  for (int i = 0; i < 5; ++i) make_file(*filesystem, kRootInode, fmt::format("f{}", i), "x");
  std::vector<std::string> names;
  off_t resume = 0;
  ASSERT_TRUE(filesystem->readdir(kRootInode, 0, [&](std::string_view name, const struct stat&, off_t next) {
    names.emplace_back(name);
    resume = next;
    return names.size() < 4;  // the buffer is full after ".", "..", f0, f1
  }));
  ASSERT_TRUE(filesystem->unlink(kRootInode, "f0"));
  make_file(*filesystem, kRootInode, "late", "x");
  ASSERT_TRUE(filesystem->readdir(kRootInode, resume, [&](std::string_view name, const struct stat&, off_t) {
    names.emplace_back(name);
    return true;
  }));
  const std::vector<std::string> expected{".", "..", "f0", "f1", "f2", "f3", "f4", "late"};
  EXPECT_EQ(names, expected);
}

TEST_F(filesystem_fixture, NothingChangedMeansNoCommit) {
  auto filesystem = open();
  make_file(*filesystem, kRootInode, "f", "x");
  ASSERT_TRUE(filesystem->commit_everything());
  const auto bytes = std::filesystem::file_size(archive);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(filesystem->commit_everything());
  ASSERT_TRUE(filesystem->final_commit());
  EXPECT_EQ(filesystem->figures().commits.load(), 1u);
  EXPECT_EQ(std::filesystem::file_size(archive), bytes);
}

// An fsync asks for its file alone: once the archive has it, the fsync
// writes nothing (not even the same header again) and counts no commit,
// whatever else waits. Any reader of a file may fsync it in a loop.
TEST_F(filesystem_fixture, AnFsyncOfAFileTheArchiveHasWritesNothing) {
  auto filesystem = open();
  const auto kept = make_file(*filesystem, kRootInode, "kept", "archived");
  const auto empty = make_file(*filesystem, kRootInode, "empty", "");
  ASSERT_TRUE(filesystem->commit_everything());
  const std::string bytes = read_file(archive);
  const auto written = std::filesystem::last_write_time(archive);

  make_file(*filesystem, kRootInode, "waiting", "closed, not fsynced");
  const auto archived_time = filesystem->getattr(empty)->st_mtim;
  ASSERT_TRUE(filesystem->open(empty, O_WRONLY | O_TRUNC));  // emptied again, its time put back: as archived
  filesystem->release(empty, O_WRONLY);
  fs::attribute_changes time_back;
  time_back.mtime = archived_time;
  ASSERT_TRUE(filesystem->setattr(empty, time_back));
  fs::attribute_changes same_mode;
  same_mode.permissions = 0644;
  ASSERT_TRUE(filesystem->setattr(kept, same_mode));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(filesystem->fsync_file(kept));
    ASSERT_TRUE(filesystem->fsync_file(empty));
  }
  EXPECT_EQ(filesystem->figures().commits.load(), 1u);
  EXPECT_EQ(read_file(archive), bytes);
  EXPECT_EQ(std::filesystem::last_write_time(archive), written) << "the archive was written";

  // What waits is still the next commit's.
  ASSERT_TRUE(filesystem->commit_everything());
  EXPECT_EQ(filesystem->figures().commits.load(), 2u);
  EXPECT_EQ(listing(), "Path = empty\nPath = kept\nPath = waiting\n");
}

// A commit takes what changed before it began. Files a writer makes while it
// runs (here: while it waits for a large file's compression) are left to the
// next commit, so it does not compress them with every writer waiting at the
// gate; what was written before, open files too, is in it.
TEST_F(filesystem_fixture, FilesChangedWhileACommitRunsWaitForTheNextOne) {
  fs::filesystem filesystem(busy_options(archive, std::chrono::seconds(600)), log.logger());  // only commits seal
  filesystem.start_threads();
  const std::string large = slow_text(6u << 20);
  make_file(filesystem, kRootInode, "saved.txt", "old version");
  ASSERT_TRUE(filesystem.commit_everything());
  make_file(filesystem, kRootInode, "large.txt", large);
  const auto open_before = open_with(filesystem, "before.log", "written before the fsync\n");
  ASSERT_NE(open_before, 0u);

  fs::result<void> first = fs::failure(EINPROGRESS);
  std::jthread committing([&] { first = filesystem.commit_everything(); });
  // Once large.txt is handed over, the commit has sealed what it takes and
  // waits for its compression.
  ASSERT_TRUE(eventually([&] { return pending_bytes(filesystem) >= large.size(); }))
      << "large.txt was never handed over";
  make_file(filesystem, kRootInode, "during.txt", "made while the commit compressed large.txt");
  const auto open_during = open_with(filesystem, "during.log", "opened during the commit\n");
  ASSERT_NE(open_during, 0u);
  ASSERT_TRUE(filesystem.write(open_before, bytes_of_text("and more during it\n"), 25));
  // Saved over by rename: the commit keeps the old version, not neither.
  make_file(filesystem, kRootInode, "saved.txt.tmp", "new version");
  ASSERT_TRUE(filesystem.rename(kRootInode, "saved.txt.tmp", kRootInode, "saved.txt", 0));
  committing.join();
  ASSERT_TRUE(first) << log.text();
  EXPECT_EQ(filesystem.figures().running.load(), false);
  EXPECT_EQ(listing(), "Path = before.log\nPath = large.txt\nPath = saved.txt\n")
      << "the files made during the commit are not in it; before.log is (open, written before)";
  EXPECT_EQ(extracted("large.txt"), large);
  EXPECT_EQ(extracted("saved.txt"), "old version");

  filesystem.release(open_during, O_WRONLY);
  filesystem.release(open_before, O_WRONLY);
  ASSERT_TRUE(filesystem.commit_everything());
  EXPECT_EQ(listing(), "Path = before.log\nPath = during.log\nPath = during.txt\nPath = large.txt\nPath = saved.txt\n");
  EXPECT_EQ(extracted("during.txt"), "made while the commit compressed large.txt");
  EXPECT_EQ(extracted("saved.txt"), "new version");
  EXPECT_EQ(extracted("during.log"), "opened during the commit\n");
  EXPECT_EQ(extracted("before.log"), "written before the fsync\nand more during it\n");
  ASSERT_TRUE(filesystem.final_commit());
}

// A commit whose new content was all compressed by the streamer lets writers
// go on while it writes the archive (here: compresses a solid folder again
// without a removed file), and a file they change meanwhile keeps its new
// content: the commit does not mark it committed with the old one.
TEST_F(filesystem_fixture, WritersGoOnWhileACommitWritesTheArchiveAndKeepWhatTheyChange) {
  auto options = busy_options(archive, std::chrono::milliseconds(10));
  options.write.plan.mode = archive::pack_mode::solid;
  fs::filesystem filesystem(options, log.logger());
  filesystem.start_threads();
  const std::string large = slow_text(3u << 20);
  make_file(filesystem, kRootInode, "large.txt", large);
  make_file(filesystem, kRootInode, "small.txt", "shares large.txt's folder");
  ASSERT_TRUE(filesystem.commit_everything());

  ASSERT_TRUE(filesystem.unlink(kRootInode, "small.txt"));  // the next commit compresses large.txt again
  const auto x = make_file(filesystem, kRootInode, "x.dat", "first");
  ASSERT_TRUE(eventually([&] {
    return filesystem.getxattr(x, "user.sevenzfs.state", false).value_or("") == R"({"state":"compressed","size":5})";
  })) << "x.dat was never compressed";
  fs::result<void> committed = fs::failure(EINPROGRESS);
  std::jthread committing([&] { committed = filesystem.commit_everything(); });
  ASSERT_TRUE(eventually([&] { return filesystem.figures().running.load(); })) << "the commit never began";
  // Its preparation has nothing to compress: it is writing the archive now.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_TRUE(filesystem.open(x, O_WRONLY | O_TRUNC));
  ASSERT_TRUE(filesystem.write(x, bytes_of_text("second"), 0));
  filesystem.release(x, O_WRONLY);
  const bool wrote_during_the_commit = filesystem.figures().running.load();
  committing.join();
  ASSERT_TRUE(committed) << log.text();
  EXPECT_TRUE(wrote_during_the_commit) << "the write waited for the whole commit";
  EXPECT_EQ(read_all(filesystem, x), "second");
  EXPECT_EQ(listing(), "Path = large.txt\nPath = x.dat\n");

  ASSERT_TRUE(filesystem.commit_everything());
  EXPECT_EQ(extracted("x.dat"), "second");
  EXPECT_EQ(extracted("large.txt"), large);
  ASSERT_TRUE(filesystem.final_commit());
}

// fsync's promise: what was written before it is in the archive when it
// returns — also a file closed while the commit prepared and handed to the
// compressor by the settle queue after the commit's own seal pass.
TEST_F(filesystem_fixture, AFileWrittenBeforeAnFsyncAndSealedDuringItsCommitIsInIt) {
  fs::filesystem filesystem(busy_options(archive, std::chrono::milliseconds(10)), log.logger());
  filesystem.start_threads();
  const std::string large = slow_text(4u << 20);
  const auto open_file = open_with(filesystem, "open.log", "written before the fsync\n");
  ASSERT_NE(open_file, 0u);
  make_file(filesystem, kRootInode, "large.txt", large);

  fs::result<void> synced = fs::failure(EINPROGRESS);
  std::jthread committing([&] { synced = filesystem.commit_everything(); });
  // large.txt handed over: the seal pass is done, open.log was open then.
  ASSERT_TRUE(eventually([&] { return pending_bytes(filesystem) >= large.size(); }))
      << "large.txt was never handed over";
  filesystem.release(open_file, O_WRONLY);
  const auto handed_over = [&] {
    const auto state = filesystem.getxattr(open_file, "user.sevenzfs.state", false).value_or("");
    return state.find("\"compress") != std::string::npos;
  };
  ASSERT_TRUE(eventually(handed_over)) << "open.log was never handed over";
  const bool sealed_during_the_commit = filesystem.figures().running.load();
  committing.join();
  ASSERT_TRUE(synced) << log.text();
  EXPECT_TRUE(sealed_during_the_commit) << "the case was not reached: large.txt compressed too fast";
  EXPECT_EQ(listing(), "Path = large.txt\nPath = open.log\n");
  EXPECT_EQ(extracted("open.log"), "written before the fsync\n");
  // Its streamed copy is dropped by the next commit, which has nothing new.
  ASSERT_TRUE(filesystem.commit_everything());
  EXPECT_EQ(extracted("open.log"), "written before the fsync\n");
  ASSERT_TRUE(filesystem.final_commit());
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
}

// A service fsyncs a log it keeps open: the commit compresses the log itself
// (it was never closed), from bytes sealed for it, while the service goes on
// appending and others go on writing; the archive holds the log as it was at
// the fsync, and the next commit the rest.
TEST_F(filesystem_fixture, WritersGoOnWhileAnFsyncCompressesAFileStillOpen) {
  fs::filesystem filesystem(busy_options(archive, std::chrono::milliseconds(10)), log.logger());
  filesystem.start_threads();
  const std::string logged = slow_text(4u << 20);
  const auto number = open_with(filesystem, "service.log", logged);
  ASSERT_NE(number, 0u);

  fs::result<void> synced = fs::failure(EINPROGRESS);
  std::jthread committing([&] { synced = filesystem.commit_everything(); });
  // The log's bytes are pending once the commit has taken its snapshot.
  ASSERT_TRUE(eventually([&] { return pending_bytes(filesystem) >= logged.size(); }))
      << "the commit never took the log";
  const std::string appended = "appended during the commit\n";
  ASSERT_TRUE(filesystem.write(number, bytes_of_text(appended), static_cast<off_t>(logged.size())));
  make_file(filesystem, kRootInode, "other.txt", "written during the commit");
  const bool wrote_during_the_commit = filesystem.figures().running.load();
  committing.join();
  ASSERT_TRUE(synced) << log.text();
  EXPECT_TRUE(wrote_during_the_commit) << "the writes waited for the commit";
  EXPECT_EQ(listing(), "Path = service.log\n");
  EXPECT_EQ(extracted("service.log"), logged);
  EXPECT_EQ(read_all(filesystem, number), logged + appended);

  filesystem.release(number, O_WRONLY);
  ASSERT_TRUE(filesystem.commit_everything());
  EXPECT_EQ(extracted("service.log"), logged + appended);
  EXPECT_EQ(extracted("other.txt"), "written during the commit");
  ASSERT_TRUE(filesystem.final_commit());
}

// An fsync of one file commits that file without waiting for the compression
// of others: a large file closed before it (handed to the compressor, its
// solid folder still open) stays out of the archive until a commit takes it.
// A file saved by rename (written, fsynced, renamed over, its directory
// fsynced) is in the archive under its new name; a new file of that
// directory comes with it.
TEST_F(filesystem_fixture, AnFsyncOfOneFileDoesNotWaitForTheCompressionOfOthers) {
  fs::filesystem filesystem(busy_options(archive, std::chrono::milliseconds(10)), log.logger());
  filesystem.start_threads();
  const std::string large = slow_text(6u << 20);
  const auto large_file = make_file(filesystem, kRootInode, "large.txt", large);
  ASSERT_TRUE(eventually([&] { return pending_bytes(filesystem) >= large.size(); }))
      << "large.txt was never handed over";
  const auto still_compressing = [&] {
    const auto state = filesystem.getxattr(large_file, "user.sevenzfs.state", false).value_or("");
    return state.find("\"compressing\"") != std::string::npos;
  };

  const auto db = open_with(filesystem, "db.bin", "page 1\n");
  ASSERT_NE(db, 0u);
  const auto empty = filesystem.create(kRootInode, "empty.txt", S_IFREG | 0644, O_WRONLY, me);  // as `touch`
  ASSERT_TRUE(empty);
  filesystem.release(empty->st_ino, O_WRONLY);
  ASSERT_TRUE(filesystem.fsync_file(db)) << log.text();
  EXPECT_TRUE(still_compressing()) << "the case was not reached: large.txt compressed too fast";
  EXPECT_EQ(listing(), "Path = db.bin\nPath = empty.txt\n") << "empty files cost the commit nothing";
  EXPECT_EQ(extracted("db.bin"), "page 1\n");

  const auto d = filesystem.mkdir(kRootInode, "d", 0755, me);
  ASSERT_TRUE(d);
  const auto saved = filesystem.create(d->st_ino, "config.tmp", S_IFREG | 0644, O_WRONLY, me);
  ASSERT_TRUE(saved);
  ASSERT_TRUE(filesystem.write(saved->st_ino, bytes_of_text("key = value\n"), 0));
  ASSERT_TRUE(filesystem.fsync_file(saved->st_ino));
  filesystem.release(saved->st_ino, O_WRONLY);
  ASSERT_TRUE(filesystem.rename(d->st_ino, "config.tmp", d->st_ino, "config", 0));
  make_file(filesystem, d->st_ino, "new.dat", "made beside it");
  make_file(filesystem, kRootInode, "elsewhere.dat", "not in d");
  ASSERT_TRUE(filesystem.fsync_directory(d->st_ino)) << log.text();
  EXPECT_TRUE(still_compressing()) << "the case was not reached: large.txt compressed too fast";
  EXPECT_EQ(listing(), "Path = d\nPath = d/config\nPath = d/new.dat\nPath = db.bin\nPath = empty.txt\n");
  EXPECT_EQ(extracted("d/config"), "key = value\n");
  EXPECT_EQ(extracted("d/new.dat"), "made beside it");

  filesystem.release(db, O_WRONLY);
  ASSERT_TRUE(filesystem.final_commit()) << log.text();
  EXPECT_EQ(listing(),
            "Path = d\nPath = d/config\nPath = d/new.dat\nPath = db.bin\nPath = elsewhere.dat\nPath = empty.txt\n"
            "Path = large.txt\n");
  EXPECT_EQ(extracted("large.txt"), large);
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
}

// An fsync of a small file the compressor has already (closed, then
// fsynced, as dpkg does) compresses it alone rather than wait for its
// folder, which may be queued behind everything in flight; the compressor's
// copy replaces that one at a later commit. A second fsync of the unchanged
// file adds nothing.
TEST_F(filesystem_fixture, AnFsyncOfASmallFileBeingCompressedCommitsItBesideTheCompressor) {
  auto options = busy_options(archive, std::chrono::milliseconds(10));
  options.write.compression.threads = 2;
  fs::filesystem filesystem(options, log.logger());
  filesystem.start_threads();
  const std::string large = slow_text(6u << 20);
  make_file(filesystem, kRootInode, "large.txt", large);
  const std::string small = slow_text(64u << 10);
  const auto small_file = make_file(filesystem, kRootInode, "small.dat", small);
  const auto state_of = [&](fs::inode_number number) {
    return filesystem.getxattr(number, "user.sevenzfs.state", false).value_or("");
  };
  ASSERT_TRUE(eventually([&] { return state_of(small_file).find("\"compress") != std::string::npos; }))
      << "small.dat was never handed over: " << state_of(small_file);

  ASSERT_TRUE(filesystem.fsync_file(small_file)) << log.text();
  EXPECT_EQ(listing(), "Path = small.dat\n");
  EXPECT_EQ(extracted("small.dat"), small);
  EXPECT_NE(state_of(small_file).find("\"archived\""), std::string::npos) << state_of(small_file);
  EXPECT_TRUE(logged(fmt::format("committed {} new bytes (0 of them compressed by the streamer", small.size())))
      << log.text();
  const auto commits = filesystem.figures().commits.load();
  ASSERT_TRUE(filesystem.fsync_file(small_file)) << log.text();
  EXPECT_EQ(filesystem.figures().commits.load(), commits) << "the second fsync committed small.dat again";
  EXPECT_EQ(read_all(filesystem, small_file), small);

  ASSERT_TRUE(filesystem.final_commit()) << log.text();
  EXPECT_EQ(listing(), "Path = large.txt\nPath = small.dat\n");
  EXPECT_EQ(extracted("small.dat"), small);
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
}

// Committed beside the compressor by its fsync, a file is taken from the
// compressor by a later commit (its copy replaces the fsync's), even when
// nothing else changed meanwhile.
TEST_F(filesystem_fixture, AFileCommittedBesideTheCompressorIsTakenFromItLater) {
  fs::filesystem filesystem(busy_options(archive, std::chrono::milliseconds(10)), log.logger());
  filesystem.start_threads();
  const std::string text = slow_text(64u << 10);
  const auto file = make_file(filesystem, kRootInode, "small.dat", text);
  ASSERT_TRUE(eventually([&] {
    return filesystem.getxattr(file, "user.sevenzfs.state", false).value_or("").find("\"compress") != std::string::npos;
  })) << "small.dat was never handed over";
  ASSERT_TRUE(filesystem.fsync_file(file)) << log.text();
  ASSERT_TRUE(logged(fmt::format("committed {} new bytes (0 of them compressed by the streamer", text.size())))
      << "the case was not reached: " << log.text();
  const auto commits = filesystem.figures().commits.load();
  ASSERT_TRUE(filesystem.final_commit()) << log.text();
  EXPECT_EQ(filesystem.figures().commits.load(), commits + 1) << "the compressor's copy was never committed";
  EXPECT_TRUE(logged(fmt::format("committed {0} new bytes ({0} of them compressed by the streamer", text.size())))
      << log.text();
  EXPECT_EQ(extracted("small.dat"), text);
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
}

// A changed file an fsync of another one leaves for later keeps its last
// committed bytes in the archive, with their mtime: with the new one, a
// same-size edit would look unchanged to rsync after a restore.
TEST_F(filesystem_fixture, AChangedFileLeftForLaterKeepsTheMtimeOfItsArchivedBytes) {
  fs::filesystem filesystem(busy_options(archive, std::chrono::milliseconds(10)), log.logger());
  filesystem.start_threads();
  const auto edited = make_file(filesystem, kRootInode, "edited.txt", "first");
  fs::attribute_changes in_2001;
  in_2001.mtime = std::timespec{978307200, 0};
  ASSERT_TRUE(filesystem.setattr(edited, in_2001));
  ASSERT_TRUE(filesystem.commit_everything());
  const auto modified = [&] {
    return run("7zz l -slt " + quote(archive.string()) + " edited.txt | sed -n 's/^Modified = //p'").output;
  };
  const std::string archived_time = modified();
  ASSERT_EQ(archived_time.substr(0, 4), "2001") << archived_time;

  ASSERT_TRUE(filesystem.open(edited, O_WRONLY));
  ASSERT_TRUE(filesystem.write(edited, bytes_of_text("other"), 0));  // same size, mtime now
  const auto other = open_with(filesystem, "other.txt", "synced");
  ASSERT_NE(other, 0u);
  ASSERT_TRUE(filesystem.fsync_file(other)) << log.text();
  EXPECT_EQ(extracted("edited.txt"), "first");
  EXPECT_EQ(modified(), archived_time);
  filesystem.release(edited, O_WRONLY);
  filesystem.release(other, O_WRONLY);
  ASSERT_TRUE(filesystem.final_commit());
  EXPECT_EQ(extracted("edited.txt"), "other");
  EXPECT_NE(modified().substr(0, 4), "2001");
}

// A directory's fsync after many files were written into it compresses
// again at most 4 MiB of what the compressor has; it waits for the folders
// of the rest.
TEST_F(filesystem_fixture, ADirectorysFsyncCompressesAgainAtMostFourMiB) {
  auto options = busy_options(archive, std::chrono::milliseconds(10));
  options.write.compression.level = 1;
  fs::filesystem filesystem(options, log.logger());
  filesystem.start_threads();
  const auto d = filesystem.mkdir(kRootInode, "d", 0755, me);
  ASSERT_TRUE(d);
  std::uint64_t total = 0;
  std::uint64_t first = 0;
  for (int i = 0; i < 3; ++i) {
    const std::string text = slow_text(2u << 20) + std::to_string(i);
    make_file(filesystem, d->st_ino, fmt::format("f{0}.x{0}", i), text);  // folders of their own
    total += text.size();
    if (i == 0) first = text.size();
  }
  ASSERT_TRUE(eventually([&] { return pending_bytes(filesystem) >= total; })) << "the files were never handed over";
  ASSERT_TRUE(filesystem.fsync_directory(d->st_ino)) << log.text();
  EXPECT_EQ(listing(), "Path = d\nPath = d/f0.x0\nPath = d/f1.x1\nPath = d/f2.x2\n");
  // The first file compressed again (2 MiB: a second would pass 4), two taken from the compressor.
  EXPECT_TRUE(
      logged(fmt::format("committed {} new bytes ({} of them compressed by the streamer", total, total - first)))
      << log.text();
  ASSERT_TRUE(filesystem.final_commit()) << log.text();
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
}

// A large file's folder is finished instead (compressing it alone would
// take as long): the fsync's commit copies the compressor's packed bytes,
// while the folder of another extension stays open.
TEST_F(filesystem_fixture, AnFsyncOfALargeFileBeingCompressedFinishesItsFolderAlone) {
  auto options = busy_options(archive, std::chrono::milliseconds(10));
  options.write.compression.threads = 2;
  fs::filesystem filesystem(options, log.logger());
  filesystem.start_threads();
  make_file(filesystem, kRootInode, "other.txt", slow_text(1u << 20));
  const std::string big = slow_text(5u << 20);
  const auto big_file = make_file(filesystem, kRootInode, "big.dat", big);
  ASSERT_TRUE(eventually([&] { return pending_bytes(filesystem) >= big.size() + (1u << 20); }))
      << "the files were never handed over";

  ASSERT_TRUE(filesystem.fsync_file(big_file)) << log.text();
  EXPECT_EQ(listing(), "Path = big.dat\n");
  EXPECT_EQ(extracted("big.dat"), big);
  EXPECT_TRUE(logged(fmt::format("committed {0} new bytes ({0} of them compressed by the streamer", big.size())))
      << "the commit compressed big.dat itself: " << log.text();
  ASSERT_TRUE(filesystem.final_commit()) << log.text();
  EXPECT_EQ(listing(), "Path = big.dat\nPath = other.txt\n");
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
}

// A commit that fails gives the files it sealed for itself their bytes back:
// the log, closed afterwards, goes to the compressor like any closed file.
TEST_F(filesystem_fixture, AFailedCommitGivesBackTheBytesItSealed) {
  const auto gone = dir / "gone";
  std::filesystem::create_directories(gone);
  archive = gone / "a.7z";
  fs::filesystem filesystem(busy_options(archive, std::chrono::milliseconds(10)), log.logger());
  filesystem.start_threads();
  const auto number = open_with(filesystem, "service.log", "keep me\n");
  ASSERT_NE(number, 0u);
  std::filesystem::remove(gone);
  ASSERT_FALSE(filesystem.commit_everything());
  std::filesystem::create_directories(gone);

  const auto state = [&] { return filesystem.getxattr(number, "user.sevenzfs.state", false).value_or(""); };
  EXPECT_EQ(state(), R"({"state":"staged","size":8})");
  filesystem.release(number, O_WRONLY);
  EXPECT_TRUE(eventually([&] { return state() == R"({"state":"compressed","size":8})"; })) << state();
  ASSERT_TRUE(filesystem.commit_everything()) << log.text();
  EXPECT_EQ(extracted("service.log"), "keep me\n");
  EXPECT_EQ(read_all(filesystem, number), "keep me\n");
}

TEST_F(filesystem_fixture, StatisticsAgreeBetweenSizeProbeAndRead) {
  auto filesystem = open();
  const auto probed = filesystem->getxattr(kRootInode, "user.sevenzfs.stats", true);
  make_file(*filesystem, kRootInode, "f", "changes the statistics");
  const auto read = filesystem->getxattr(kRootInode, "user.sevenzfs.stats", false);
  ASSERT_TRUE(probed && read);
  EXPECT_EQ(*probed, *read) << "the value measured for the size probe is the one read";
  EXPECT_EQ(read->front(), '{');
  EXPECT_EQ(filesystem->getxattr(kRootInode, "user.sevenzfs.no_such", false).error().code, ENODATA);
  EXPECT_EQ(filesystem->getxattr(kRootInode, "user.other", false).error().code, ENODATA);
  EXPECT_EQ(filesystem->setxattr(kRootInode, "user.mine", "1", me).error().code, ENOTSUP);
  const auto names = filesystem->listxattr(kRootInode);
  ASSERT_TRUE(names);
  EXPECT_NE(names->find(std::string("user.sevenzfs.staged_files\0", 27)), std::string::npos);
  const auto stranger = filesystem->setxattr(kRootInode, "user.sevenzfs.flush", "1", {me.uid + 1000, me.gid, {}});
  ASSERT_FALSE(stranger);
  EXPECT_EQ(stranger.error().code, EPERM) << "only the mount's owner or root may make it commit";
  EXPECT_FALSE(std::filesystem::exists(archive));
  ASSERT_TRUE(filesystem->setxattr(kRootInode, "user.sevenzfs.flush", "1", me)) << "the flush control commits";
  EXPECT_TRUE(std::filesystem::exists(archive));
}

TEST_F(filesystem_fixture, AFailedCommitKeepsEverythingStagedAndReportsTheErrno) {
  const auto gone = dir / "gone";
  std::filesystem::create_directories(gone);
  archive = gone / "a.7z";
  auto filesystem = open();
  make_file(*filesystem, kRootInode, "f", "keep me\n");
  std::filesystem::remove(gone);
  const auto failed = filesystem->commit_everything();
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ENOENT) << "the errno of the failed call, not a generic EIO";
  EXPECT_NE(log.text().find("commit to"), std::string::npos) << log.text();
  EXPECT_EQ(filesystem->figures().failed_commits.load(), 1u);
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "f")), "keep me\n");
  std::filesystem::create_directories(gone);
  ASSERT_TRUE(filesystem->commit_everything()) << log.text();
  EXPECT_EQ(extracted("f"), "keep me\n");
  EXPECT_NE(filesystem->figures().error(), "") << "the last error stays visible after a success";
}

TEST_F(filesystem_fixture, AFileOutgrowingThePoolWhileOpenSpillsToDisk) {
  auto filesystem = open();  // 4 MiB pool
  const auto made = filesystem->create(kRootInode, "big", S_IFREG | 0644, O_WRONLY, me);
  ASSERT_TRUE(made);
  std::string chunk(1 << 20, '\0');
  for (int i = 0; i < 10; ++i) {
    std::fill(chunk.begin(), chunk.end(), static_cast<char>('a' + i));
    const auto written = filesystem->write(made->st_ino, bytes_of_text(chunk), static_cast<off_t>(i) << 20);
    ASSERT_TRUE(written && *written == chunk.size()) << i << log.text();
  }
  EXPECT_NE(log.text().find("outgrew the staging pool"), std::string::npos) << log.text();
  const auto content = read_all(*filesystem, made->st_ino, 1 << 16);
  ASSERT_EQ(content.size(), 10u << 20);
  EXPECT_EQ(content[(5u << 20) + 7], 'f');
  filesystem->release(made->st_ino, O_WRONLY);
  ASSERT_TRUE(filesystem->commit_everything());
  EXPECT_EQ(extracted("big"), content);
}

TEST_F(filesystem_fixture, CommittedFilesReadBackInTheSameMountAndAfterReopening) {
  std::string big(3u << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 7 + i / 1000) % 26);
  {
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "hello.txt", "hello\n");
    make_file(*filesystem, kRootInode, "big.bin", big);
    ASSERT_TRUE(filesystem->symlink("hello.txt", kRootInode, "link", me));
    ASSERT_TRUE(filesystem->commit_everything());
    EXPECT_EQ(filesystem->getxattr(kRootInode, "user.sevenzfs.staged_files", false).value_or("?"), "0");
    EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "hello.txt")), "hello\n")
        << "read back from the archive seconds after the commit";
    EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "big.bin"), 128 << 10), big);
  }
  auto filesystem = open();
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "hello.txt")), "hello\n");
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "big.bin"), 100'000), big);
  const auto link = entry_of(*filesystem, kRootInode, "link");
  EXPECT_EQ(filesystem->readlink(link).value_or("?"), "hello.txt") << "an archived symlink reads back";
  EXPECT_EQ(filesystem->getattr(link)->st_size, 9);
  const auto cache = filesystem->getxattr(kRootInode, "user.sevenzfs.cache_misses_total", false);
  EXPECT_NE(cache.value_or("0"), "0");
}

TEST_F(filesystem_fixture, ArchivedFilesChangeLikeAnyOther) {
  {
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "log", "line 1\n");
    make_file(*filesystem, kRootInode, "middle", "0123456789");
    make_file(*filesystem, kRootInode, "cut", "keep this, drop that");
    ASSERT_TRUE(filesystem->final_commit());
  }
  auto filesystem = open();
  // Appending (as O_APPEND writes do, at the end), writing in the middle,
  // truncating to a non-zero size: each copies the archived bytes back first.
  const auto log_file = entry_of(*filesystem, kRootInode, "log");
  ASSERT_TRUE(filesystem->open(log_file, O_WRONLY | O_APPEND));
  ASSERT_TRUE(filesystem->write(log_file, bytes_of_text("line 2\n"), 7));
  filesystem->release(log_file, O_WRONLY);
  const auto middle = entry_of(*filesystem, kRootInode, "middle");
  ASSERT_TRUE(filesystem->open(middle, O_WRONLY));
  ASSERT_TRUE(filesystem->write(middle, bytes_of_text("XY"), 4));
  filesystem->release(middle, O_WRONLY);
  fs::attribute_changes cut;
  cut.size = 9;
  ASSERT_TRUE(filesystem->setattr(entry_of(*filesystem, kRootInode, "cut"), cut));
  EXPECT_EQ(read_all(*filesystem, log_file), "line 1\nline 2\n");
  EXPECT_EQ(read_all(*filesystem, middle), "0123XY6789");
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "cut")), "keep this");
  ASSERT_TRUE(filesystem->final_commit());
  filesystem.reset();
  filesystem = open();
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "log")), "line 1\nline 2\n");
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "middle")), "0123XY6789");
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "cut")), "keep this");
}

TEST_F(filesystem_fixture, ALargeArchivedFileChangedThroughASmallPoolGoesToDisk) {
  std::string big(6u << 20, 'b');  // more than the 4 MiB pool
  {
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "big", big);
    ASSERT_TRUE(filesystem->final_commit());
  }
  auto filesystem = open();
  const auto file = entry_of(*filesystem, kRootInode, "big");
  ASSERT_TRUE(filesystem->open(file, O_WRONLY));
  ASSERT_TRUE(filesystem->write(file, bytes_of_text("!"), static_cast<off_t>(big.size())));
  filesystem->release(file, O_WRONLY);
  big += '!';
  EXPECT_EQ(read_all(*filesystem, file, 1 << 20), big);
  ASSERT_TRUE(filesystem->final_commit());
  filesystem.reset();
  filesystem = open();
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "big"), 1 << 20), big);
}

// An archive that exists but cannot be opened to lock it (descriptors ran
// out) is an error, not taken for one that does not exist yet: the new
// archive would stay unlocked without a word. Once descriptors are back,
// the follow locks it.
TEST_F(filesystem_fixture, AnArchiveThatCannotBeOpenedToLockItIsAnError) {
  const std::filesystem::path path = dir / "held.7z";
  auto lock = fs::archive_lock::take(path.string(), "/m", false);
  ASSERT_TRUE(lock) << lock.error().message;
  write_file(path, "written anew by a commit");
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<archive::unique_fd> spent;
  for (;;) {
    archive::unique_fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!fd) break;
    spent.push_back(std::move(fd));
  }
  const auto followed = lock->follow_archive();
  spent.clear();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_FALSE(followed) << "the archive was taken for one that does not exist";
  EXPECT_EQ(followed.error().code, EMFILE);
  EXPECT_NE(followed.error().message.find("to lock it"), std::string::npos) << followed.error().message;
  ASSERT_TRUE(lock->follow_archive());
  const int other = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(other, 0);
  struct flock whole {};
  whole.l_type = F_WRLCK;
  whole.l_whence = SEEK_SET;
  EXPECT_NE(::fcntl(other, F_OFD_SETLK, &whole), 0) << "the archive is locked";
  ::close(other);
}

// The lock file goes with the lock: none is left beside the archive. A
// daemon that waited for the lock wakes up holding the removed file, and
// takes the one at the path instead (or two daemons would hold "the" lock).
TEST_F(filesystem_fixture, TheLockFileGoesWithTheLockAndAWaitingTakerTakesTheNextOne) {
  const std::filesystem::path path = dir / "taken.7z";
  const std::string lock_path = path.string() + ".lock";
  std::optional<fs::archive_lock> first;
  {
    auto taken = fs::archive_lock::take(path.string(), "/first", false);
    ASSERT_TRUE(taken) << taken.error().message;
    first.emplace(std::move(*taken));
  }
  EXPECT_EQ(read_file(lock_path), fmt::format("pid {}, mounted on /first\n", ::getpid()));
  std::promise<void> waiting;
  std::optional<fs::archive_lock> second;
  std::string failed;
  std::thread taker([&] {
    auto taken =
        fs::archive_lock::take(path.string(), "/second", true, [&](const std::string&) { waiting.set_value(); });
    if (taken) {
      second.emplace(std::move(*taken));
    } else {
      failed = taken.error().message;
    }
  });
  waiting.get_future().wait();  // the taker holds the first file open
  first.reset();
  taker.join();
  ASSERT_TRUE(second) << failed;
  EXPECT_EQ(read_file(lock_path), fmt::format("pid {}, mounted on /second\n", ::getpid()))
      << "the taker named itself in the file at the path";
  const int probe = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(probe, 0);
  struct flock whole {};
  whole.l_type = F_WRLCK;
  whole.l_whence = SEEK_SET;
  ASSERT_EQ(::fcntl(probe, F_OFD_GETLK, &whole), 0);
  ::close(probe);
  EXPECT_NE(whole.l_type, F_UNLCK) << "the file at the path is the one held";
  second.reset();
  EXPECT_FALSE(std::filesystem::exists(lock_path));
}

// The archive lock follows the archive to the file a commit made, and when
// another daemon holds that file already (it took it under another name
// between the rename and the follow), this one commits no more: both would
// write it. (The lock here is taken for another path than the archive's,
// which another process holds, so that the follow fails at once.)
TEST_F(filesystem_fixture, ADaemonThatCannotLockTheArchiveItMadeCommitsNoMore) {
  const std::filesystem::path held_elsewhere = dir / "held.7z";
  auto lock = fs::archive_lock::take(held_elsewhere.string(), "/m", false);
  ASSERT_TRUE(lock) << lock.error().message;
  EXPECT_TRUE(lock->follow_archive()) << "no archive yet: nothing to follow";
  write_file(held_elsewhere, "another daemon's archive");
  const int holder = ::open(held_elsewhere.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(holder, 0);
  struct flock whole {};
  whole.l_type = F_WRLCK;
  whole.l_whence = SEEK_SET;
  ASSERT_EQ(::fcntl(holder, F_OFD_SETLK, &whole), 0);
  const auto followed = lock->follow_archive();
  ASSERT_FALSE(followed);
  EXPECT_EQ(followed.error().code, EBUSY);
  EXPECT_NE(followed.error().message.find("under another name"), std::string::npos) << followed.error().message;

  fs::filesystem filesystem(small_daemon_options(archive), log.logger(), &*lock);
  make_file(filesystem, kRootInode, "a.txt", "committed\n");
  ASSERT_TRUE(filesystem.commit_everything()) << "this commit is made; the follow after it fails";
  EXPECT_NE(log.text().find("no commit is made any more"), std::string::npos) << log.text();
  make_file(filesystem, kRootInode, "b.txt", "kept for the recovery archive\n");
  const auto refused = filesystem.commit_everything();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, EBUSY);
  EXPECT_EQ(extracted("a.txt"), "committed\n");
  EXPECT_EQ(run("7zz l -ba " + quote(archive.string()) + " b.txt | wc -l").output, "0\n");
  ::close(holder);
}
