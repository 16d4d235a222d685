// Changing archived entries through real mounts: rm, rmdir, mv (also
// RENAME_EXCHANGE), rewrite, append, truncate, pwrite, chmod and touch of
// what an earlier mount archived, then the archive judged by 7zz t, 7zz x,
// bsdtar and py7zr against what the mount showed (each path once, nothing
// asked, nothing renamed), and again after a remount. A file still open for
// writing keeps its archived copy through commits of closed files. One file
// removed from a solid folder leaves the others intact. Dead bytes go on
// request. Flushes cost their new data and the header only.
#include "mount_fixture.hpp"
#include "sample_bytes.hpp"
#include "tools/fixture_tree.hpp"

#include "archive/archive_layout.hpp"
#include "archive/archive_reader.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <thread>

namespace fs = std::filesystem;
using namespace sevenzfs::test;

namespace {

std::string diff_r(const fs::path& a, const fs::path& b) {
  return run("diff -r --no-dereference " + quote(a.string()) + " " + quote(b.string()) + " 2>&1").output;
}

// Each stored path once: the listing with duplicates removed is the listing.
std::string duplicate_paths(const fs::path& archive) {
  return run("7zz l -ba -slt " + quote(archive.string()) + " | grep '^Path = ' | sort | uniq -d").output;
}

void pwrite_text(const fs::path& file, const std::string& text, off_t offset, int flags = O_WRONLY) {
  const int fd = ::open(file.c_str(), flags);
  ASSERT_GE(fd, 0) << file;
  ASSERT_EQ(::pwrite(fd, text.data(), text.size(), offset), static_cast<ssize_t>(text.size()));
  ::close(fd);
}

}  // namespace

// Times before 1601 (and after 30828) are clamped, as the kernel clamps
// times to what a filesystem stores: 1500-01-01 used to be committed as no
// time at all, which the next mount showed as its own start.
TEST_F(mount_fixture, TimesSevenZipCannotHoldBecomeTheNearestItCan) {
  auto daemon = mount();
  write_file(mnt / "old.txt", "old\n");
  ASSERT_EQ(run("touch -d '1500-01-01 UTC' " + quote((mnt / "old.txt").string())).exit_code, 0);
  struct stat st {};
  ASSERT_EQ(::stat((mnt / "old.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, -11'644'473'600) << "1601-01-01 00:00:00 UTC";
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  EXPECT_NE(run("7zz l " + quote(archive.string()) + " old.txt").output.find("1601-01-01 00:00:00"), std::string::npos);
  auto again = mount();
  ASSERT_EQ(::stat((mnt / "old.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, -11'644'473'600);
  ASSERT_EQ(again->unmount_and_wait(), 0) << again->log();
}

TEST_F(mount_fixture, ChangesToArchivedEntriesReachEveryReader) {
  make_fixture_tree(dir / "src", {.non_bmp_names = false});
  {
    auto daemon = mount("level=1");
    ASSERT_EQ(run("cp -a " + quote((dir / "src").string()) + " " + quote(mnt.string()) + "/").exit_code, 0);
    write_file(mnt / "log.txt", "line 1\n");
    write_file(mnt / "middle.bin", "0123456789");
    write_file(mnt / "cut.txt", "keep this, drop that");
    write_file(mnt / "left", "left side");
    write_file(mnt / "right", "right side");
    write_file(mnt / "becomes-dir", "a file first");
    fs::create_directories(mnt / "becomes-file" / "sub");
    write_file(mnt / "becomes-file" / "sub" / "x", "x");
    write_file(mnt / "rewritten.txt", "the first version");
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  }
  auto daemon = mount("level=1");
  // Every kind of change to what the first mount archived.
  fs::remove_all(mnt / "src" / "dir");
  fs::rename(mnt / "src" / "plain.txt", mnt / "moved.txt");
  write_file(mnt / "rewritten.txt", "the second version, longer than the first");
  pwrite_text(mnt / "log.txt", "line 2\n", 0, O_WRONLY | O_APPEND);
  pwrite_text(mnt / "middle.bin", "XY", 4);
  ASSERT_EQ(::truncate((mnt / "cut.txt").c_str(), 9), 0);
  ASSERT_EQ(::syscall(SYS_renameat2, AT_FDCWD, (mnt / "left").c_str(), AT_FDCWD, (mnt / "right").c_str(),
                      2 /* RENAME_EXCHANGE */),
            0);
  fs::remove(mnt / "becomes-dir");
  fs::create_directories(mnt / "becomes-dir");
  write_file(mnt / "becomes-dir" / "inside", "inside");
  fs::remove_all(mnt / "becomes-file");
  write_file(mnt / "becomes-file", "now a file");
  ASSERT_EQ(::chmod((mnt / "moved.txt").c_str(), 0600), 0);
  ASSERT_EQ(run("touch -d '2001-02-03 04:05:06' " + quote((mnt / "cut.txt").string())).exit_code, 0);
  // What the mount shows now is what every reader must extract.
  ASSERT_EQ(run("cp -a " + quote(mnt.string()) + " " + quote((dir / "shown").string())).exit_code, 0);
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();

  EXPECT_EQ(duplicate_paths(archive), "");
  EXPECT_EQ(run("7zz t " + quote(archive.string()) + " >/dev/null 2>&1").exit_code, 0);
  const auto x = run("7zz x -snld -o" + quote((dir / "7zz").string()) + " " + quote(archive.string()) + " </dev/null");
  ASSERT_EQ(x.exit_code, 0) << x.output;
  EXPECT_EQ(diff_r(dir / "shown", dir / "7zz"), "");
  EXPECT_EQ(join(compare_trees(dir / "shown", dir / "7zz")), "") << "modes and times too";
  fs::create_directories(dir / "bsdtar");
  ASSERT_EQ(run("bsdtar -xf " + quote(archive.string()) + " -C " + quote((dir / "bsdtar").string())).exit_code, 0);
  EXPECT_EQ(diff_r(dir / "shown", dir / "bsdtar"), "");
  const auto py = run("/usr/bin/python3 -c " +
                      quote("import py7zr, sys\npy7zr.SevenZipFile(sys.argv[1]).extractall(sys.argv[2])\n") + " " +
                      quote(archive.string()) + " " + quote((dir / "py7zr").string()));
  ASSERT_EQ(py.exit_code, 0) << py.output;
  EXPECT_EQ(diff_r(dir / "shown", dir / "py7zr"), "");

  auto again = mount("level=1");
  EXPECT_EQ(diff_r(dir / "shown", mnt), "");
  EXPECT_EQ(join(compare_trees(dir / "shown", mnt)), "");
  ASSERT_EQ(again->unmount_and_wait(), 0) << again->log();
}

TEST_F(mount_fixture, AFileOpenForWritingKeepsItsArchivedCopyUntilItIsCommitted) {
  {
    auto daemon = mount();
    write_file(mnt / "open.log", "archived line\n");
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  }
  auto daemon = mount("flush_interval=1");
  const int fd = ::open((mnt / "open.log").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "new line\n", 9), 9);
  write_file(mnt / "closed.txt", "closed");  // gives the periodic commit work
  // Periodic commits take closed files only: the open one keeps its old copy.
  for (int i = 0; i < 100 && run("7zz l -ba " + quote(archive.string()) + " closed.txt").output.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " closed.txt").output, "closed");
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " open.log").output, "archived line\n");
  ::close(fd);
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " open.log").output, "archived line\nnew line\n");
  EXPECT_EQ(duplicate_paths(archive), "");
}

namespace {
std::string solid_member(int i) { return fmt::format("file {} ", i) + std::string(5000, static_cast<char>('a' + i)); }
}  // namespace

TEST_F(mount_fixture, OneFileRemovedFromASolidFolderLeavesTheOthersIntact) {
  {
    auto daemon = mount("mode=solid");
    for (int i = 0; i < 20; ++i) write_file(mnt / fmt::format("f{:02}.txt", i), solid_member(i));
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  }
  auto daemon = mount("mode=solid");
  fs::remove(mnt / "f07.txt");
  ASSERT_EQ(run("sync " + quote((mnt / "f00.txt").string())).exit_code, 0);
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.dead_bytes"), "0") << "the folder was compressed again without it";
  EXPECT_EQ(run("7zz l -ba " + quote(archive.string()) + " f07.txt").output, "");
  for (int i = 0; i < 20; ++i) {
    if (i == 7) continue;
    const auto name = fmt::format("f{:02}.txt", i);
    EXPECT_EQ(read_file(mnt / name), solid_member(i)) << name;
  }
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  EXPECT_EQ(run("7zz t " + quote(archive.string()) + " >/dev/null 2>&1").exit_code, 0);
  EXPECT_EQ(run("7zz l -ba " + quote(archive.string()) + " | wc -l").output, "19\n");
}

TEST_F(mount_fixture, CompactThroughTheControl) {
  {
    auto daemon = mount("mode=batched,compact_at=0");
    write_file(mnt / "old", std::string(300000, 'o'));
    ASSERT_EQ(run("sync " + quote((mnt / "old").string())).exit_code, 0);
    write_file(mnt / "newest", random_bytes(300000, 7));
    ASSERT_EQ(run("sync " + quote((mnt / "newest").string())).exit_code, 0);
    fs::remove(mnt / "newest");
    ASSERT_EQ(run("sync " + quote((mnt / "old").string())).exit_code, 0);
    EXPECT_NE(xattr(mnt, "user.sevenzfs.dead_bytes"), "0");
    ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.compact", "1", 1, 0), 0) << daemon->log();
    EXPECT_EQ(xattr(mnt, "user.sevenzfs.dead_bytes"), "0");
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  }
  EXPECT_LT(fs::file_size(archive), 100000u);
  EXPECT_EQ(run("7zz t " + quote(archive.string()) + " >/dev/null 2>&1").exit_code, 0);
}

TEST_F(mount_fixture, FlushesCostTheirNewDataAndTheHeaderOnly) {
  auto daemon = mount("level=1");
  for (int i = 0; i < 3000; ++i) write_file(mnt / fmt::format("f{:04}", i), fmt::format("file {}\n", i));
  ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0);
  const auto commits = xattr(mnt, "user.sevenzfs.commits_total");
  const auto size = fs::file_size(archive);
  // A flush with nothing changed writes nothing and counts no commit.
  for (int i = 0; i < 20; ++i) ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0);
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.commits_total"), commits);
  EXPECT_EQ(fs::file_size(archive), size);
  // Nor does an fsync of a file the archive has, while another file waits
  // (open for writing, so no commit but one of everything takes it).
  const int waiting = ::open((mnt / "waiting").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(waiting, 0);
  ASSERT_EQ(::write(waiting, "waits\n", 6), 6);
  const auto written = fs::last_write_time(archive);
  for (int i = 0; i < 20; ++i) {
    const int archived = ::open((mnt / "f0000").c_str(), O_RDONLY);
    ASSERT_GE(archived, 0);
    EXPECT_EQ(::fsync(archived), 0);
    ::close(archived);
  }
  ::close(waiting);
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.commits_total"), commits);
  EXPECT_EQ(fs::last_write_time(archive), written) << "the archive was written";
  // Twenty one-file commits leave no copy of an old header behind.
  for (int i = 0; i < 20; ++i) {
    write_file(mnt / fmt::format("later{:02}", i), "later\n");
    ASSERT_EQ(run("sync " + quote((mnt / fmt::format("later{:02}", i)).string())).exit_code, 0);
  }
  const auto layout = sevenzfs::archive::read_archive(archive.string());
  EXPECT_LE(sevenzfs::archive::dead_bytes(layout), 64u << 10);
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.dead_bytes"), std::to_string(sevenzfs::archive::dead_bytes(layout)));
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  EXPECT_EQ(run("7zz l -ba " + quote(archive.string()) + " | wc -l").output, "3021\n");
}
