// The daemon through a real mount: cp -a in, unmount, wait for the daemon,
// then judge the archive with 7zz, bsdtar and py7zr.
#include "mount_fixture.hpp"
#include "test_support.hpp"
#include "tools/fixture_tree.hpp"

#include "archive/archive_reader.hpp"
#include "archive/header_compressor.hpp"
#include "archive/header_decoder.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <set>
#include <sys/statvfs.h>
#include <thread>

namespace fs = std::filesystem;
using namespace sevenzfs::test;

TEST_F(mount_fixture, CopiedTreeBecomesAnArchiveThatReadersRestoreExactly) {
  make_fixture_tree(dir / "src");
  auto daemon = mount("threads=2");
  const auto copied = run("cp -a " + quote((dir / "src").string()) + " " + quote(mnt.string()) + "/");
  ASSERT_EQ(copied.exit_code, 0) << copied.output;
  EXPECT_EQ(join(compare_trees(dir / "src", mnt / "src")), "") << "the mount shows what was copied";
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();

  const auto tested = run("7zz t " + quote(archive.string()));
  ASSERT_EQ(tested.exit_code, 0) << tested.output;
  extract_all("x");
  EXPECT_EQ(join(compare_trees(dir / "src", dir / "x" / "src")), "");
  const auto listed = run("bsdtar -tvf " + quote(archive.string()));
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_NE(listed.output.find("src/link -> plain.txt"), std::string::npos) << listed.output;
}

TEST_F(mount_fixture, Py7zrReadsWhatTheMountWrote) {
  make_fixture_tree(dir / "src", {.non_bmp_names = false});
  auto daemon = mount("mode=batched");
  ASSERT_EQ(run("cp -a " + quote((dir / "src").string()) + " " + quote(mnt.string()) + "/").exit_code, 0);
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  const auto result =
      run("/usr/bin/python3 -c 'import py7zr,sys; a=py7zr.SevenZipFile(sys.argv[1]); print(a.testzip()); "
          "print(len(a.getnames()))' " +
          quote(archive.string()));
  // Every entry of the source tree (and its top directory) is listed.
  const auto expected = run("find " + quote((dir / "src").string()) + " | wc -l");
  EXPECT_EQ(result.output, "None\n" + expected.output) << result.output;
}

TEST_F(mount_fixture, RemountShowsEntriesAndAppendsWithoutTouchingOldPacks) {
  make_fixture_tree(dir / "src");
  {
    auto daemon = mount();
    ASSERT_EQ(run("cp -a " + quote((dir / "src").string()) + " " + quote(mnt.string()) + "/").exit_code, 0);
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  }
  const auto before = sevenzfs::archive::read_archive(archive.string());
  const std::string old_bytes = read_file(archive);
  {
    auto daemon = mount();
    // Old entries: names, sizes, modes and times.
    struct stat st {};
    ASSERT_EQ(::stat((mnt / "src" / "readonly.txt").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0444u);
    EXPECT_EQ(st.st_size, 10);
    struct stat source {};
    ::stat((dir / "src" / "readonly.txt").c_str(), &source);
    EXPECT_EQ(st.st_mtim.tv_sec, source.st_mtim.tv_sec);
    EXPECT_TRUE(fs::is_directory(mnt / "src" / "emptydir"));
    EXPECT_EQ(fs::file_size(mnt / "src" / "data" / "big.log"), 3u << 20);
    write_file(dir / "src" / "added.txt", "appended in a second mount\n");
    ASSERT_EQ(run("cp -p " + quote((dir / "src" / "added.txt").string()) + " " + quote((mnt / "src").string()) + "/")
                  .exit_code,
              0);
    fs::create_directories(mnt / "more");
    write_file(mnt / "more" / "x.log", std::string(100000, 'x'));
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  }
  const std::string new_bytes = read_file(archive);
  ASSERT_GE(new_bytes.size(), before.packs_end);
  EXPECT_TRUE(new_bytes.compare(32, before.packs_end - 32, old_bytes, 32, before.packs_end - 32) == 0)
      << "old packed streams were rewritten";
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  extract_all("x");
  EXPECT_EQ(join(compare_trees(dir / "src", dir / "x" / "src")), "");
  EXPECT_EQ(read_file(dir / "x" / "more" / "x.log"), std::string(100000, 'x'));
}

// A service's log through a real mount: kept open with O_APPEND and fsynced,
// then appended to by a shell's >> and `sync FILE`, then again after a
// remount. Every commit after the first continues the log's archived folder
// (only the new bytes compressed), in the same archive file while that
// folder is the last (a file compressed beside it goes after it; the next
// commit then writes the archive anew, the log last again); the readers get
// the whole log.
TEST_F(mount_fixture, AServiceLogGrowsByAppendsAcrossCommitsAndRemounts) {
  const auto log_path = mnt / "app.log";
  const auto continued = [&] { return xattr(mnt, "user.sevenzfs.last_commit_continued_bytes"); };
  const auto lines = [](const std::string& tag, int count) {
    std::string text;
    for (int k = 0; k < count; ++k) text += tag + " request " + std::to_string(k * 7919 % 100003) + " served\n";
    return text;
  };
  const auto inode = [&] {
    struct stat st {};
    EXPECT_EQ(::stat(archive.c_str(), &st), 0);
    return st.st_ino;
  };
  std::string expected;
  // `>>` from a shell, then `sync FILE` (an fsync: a commit).
  const auto append_from_a_shell = [&](const std::string& text) {
    write_file(dir / "more.txt", text);
    const auto appended = run("cat " + quote((dir / "more.txt").string()) + " >> " + quote(log_path.string()) +
                              " && sync " + quote(log_path.string()));
    EXPECT_EQ(appended.exit_code, 0) << appended.output;
    expected += text;
  };
  {
    auto daemon = mount("threads=2,settle=0");
    const int fd = ::open(log_path.c_str(), O_CREAT | O_WRONLY | O_APPEND, 0644);
    ASSERT_GE(fd, 0);
    const auto append = [&](const std::string& text) {
      ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
      expected += text;
    };
    append(lines("first", 20000));
    ASSERT_EQ(::fsync(fd), 0);
    EXPECT_EQ(continued(), "0");
    const auto archive_file = inode();
    const std::size_t first = expected.size();
    append(lines("second", 10000));
    ASSERT_EQ(::fsync(fd), 0);
    EXPECT_EQ(continued(), std::to_string(first));
    EXPECT_EQ(inode(), archive_file) << "continued in place";
    // A file the streaming compressor took (settle=0: at once) goes after it.
    write_file(mnt / "other.txt", lines("other", 3000));
    for (const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
         xattr(mnt / "other.txt", "user.sevenzfs.state").find("compressed") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_NE(xattr(mnt / "other.txt", "user.sevenzfs.state").find("compressed"), std::string::npos);
    // (An fsync of the log would leave other.txt's folder open: a flush
    // commits both.)
    const std::size_t second = expected.size();
    append(lines("third", 5000));
    ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0);
    EXPECT_EQ(continued(), std::to_string(second));
    EXPECT_EQ(inode(), archive_file) << "continued in place, the other file after it";
    ::close(fd);

    const std::size_t third = expected.size();
    append_from_a_shell(lines("shell", 5000));
    EXPECT_EQ(continued(), std::to_string(third));
    EXPECT_NE(inode(), archive_file) << "the log's folder was not the last: written anew";
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
    EXPECT_EQ(daemon->log().find("did not start with their archived copy"), std::string::npos) << daemon->log();
  }
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  {
    auto daemon = mount("threads=2");
    const auto archive_file = inode();
    const std::size_t archived = expected.size();
    append_from_a_shell(lines("after remount", 5000));
    EXPECT_EQ(continued(), std::to_string(archived));
    EXPECT_EQ(inode(), archive_file) << "the log went last when the archive was written anew";
    EXPECT_EQ(read_file(log_path), expected);
    EXPECT_EQ(read_file(mnt / "other.txt"), lines("other", 3000));
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  }
  const auto tested = run("7zz t " + quote(archive.string()));
  EXPECT_EQ(tested.exit_code, 0) << tested.output;
  EXPECT_EQ(run("bsdtar -xOf " + quote(archive.string()) + " app.log").output, expected);
  EXPECT_EQ(run("bsdtar -xOf " + quote(archive.string()) + " other.txt").output, lines("other", 3000));
  const auto py7zr =
      run("/usr/bin/python3 -c 'import py7zr,sys; a=py7zr.SevenZipFile(sys.argv[1]); "
          "sys.stdout.write(a.read([\"app.log\"])[\"app.log\"].read().decode())' " +
          quote(archive.string()));
  EXPECT_EQ(py7zr.output, expected);
}

TEST_F(mount_fixture, FsyncedFileSurvivesKill9) {
  auto daemon = mount();
  const auto path = mnt / "durable.txt";
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  const std::string text = "this must be in the archive\n";
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ASSERT_EQ(::fsync(fd), 0);
  ::close(fd);
  daemon->send(SIGKILL);
  EXPECT_EQ(daemon->wait_exit(std::chrono::seconds(10)), 128 + SIGKILL);
  run("fusermount3 -u -z " + quote(mnt.string()));
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " durable.txt").output, text);
}

TEST_F(mount_fixture, SigtermCommitsUnmountsAndExitsZero) {
  auto daemon = mount();
  write_file(mnt / "a.txt", "written before SIGTERM\n");
  daemon->send(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(std::chrono::seconds(60)), 0) << daemon->log();
  EXPECT_FALSE(is_mounted(mnt));
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " a.txt").output, "written before SIGTERM\n");
}

TEST_F(mount_fixture, FlushXattrCommitsAndStatsFollowTheWork) {
  auto daemon = mount("settle=60");  // files stay staged, not handed to the compressor, until the flush
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.pid"), std::to_string(daemon->pid()));
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.staged_files"), "0");
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.commits_total"), "0");
  for (int i = 0; i < 20; ++i)
    write_file(mnt / std::string("f").append(std::to_string(i)).append(".txt"), std::string(1000 + i, 'a'));
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.staged_files"), "20");
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.files_under_16k"), "20");
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.files"), "20");
  EXPECT_EQ(xattr(mnt / "f3.txt", "user.sevenzfs.state"), R"({"state":"staged","size":1003})");
  ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0) << errno;
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.commits_total"), "1");
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.archived_files"), "20");
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.staged_files"), "0");
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.files_under_16k"), "20") << "size classes count archived files too";
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.dead_bytes"), "0");
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.last_commit_files"), "20");
  EXPECT_EQ(xattr(mnt / "f3.txt", "user.sevenzfs.state").substr(0, 37), R"({"state":"archived","size":1003,"fold)");
  EXPECT_EQ(run("7zz l " + quote(archive.string()) + " | tail -1").output.find("20 files") != std::string::npos, true);
  const std::string json = xattr(mnt, "user.sevenzfs.stats");
  EXPECT_EQ(json.front(), '{');
  EXPECT_NE(json.find("\"commits_total\":1"), std::string::npos) << json;
  EXPECT_NE(json.find("\"pool_bytes\":"), std::string::npos) << json;
  EXPECT_NE(json.find("\"archive\":\"" + archive.string() + "\""), std::string::npos) << json;
  // getfattr -d lists them all.
  const auto dumped = run("getfattr -d " + quote(mnt.string()));
  EXPECT_NE(dumped.output.find("user.sevenzfs.archived_bytes="), std::string::npos) << dumped.output;
  EXPECT_EQ(dumped.output.find("user.sevenzfs.stats="), std::string::npos) << "the JSON document is not listed";
  EXPECT_NE(dumped.output.find("user.sevenzfs.commit_progress_percent="), std::string::npos);
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
}

TEST_F(mount_fixture, XattrProtocol) {
  auto daemon = mount();
  write_file(mnt / "f", "x");
  const ssize_t size = ::getxattr(mnt.c_str(), "user.sevenzfs.stats", nullptr, 0);
  ASSERT_GT(size, 10);
  std::string small(static_cast<std::size_t>(size) - 1, '\0');
  EXPECT_EQ(::getxattr(mnt.c_str(), "user.sevenzfs.commits_total", small.data(), 0), 1);  // "0"
  char tiny[1];
  EXPECT_EQ(::getxattr(mnt.c_str(), "user.sevenzfs.stats", tiny, sizeof tiny), -1);
  EXPECT_EQ(errno, ERANGE);
  EXPECT_EQ(::getxattr(mnt.c_str(), "user.sevenzfs.no_such_stat", nullptr, 0), -1);
  EXPECT_EQ(errno, ENODATA);
  EXPECT_EQ(::getxattr((mnt / "f").c_str(), "security.capability", nullptr, 0), -1);
  EXPECT_EQ(errno, ENODATA);
  EXPECT_EQ(::setxattr((mnt / "f").c_str(), "user.mine", "v", 1, 0), -1);
  EXPECT_EQ(errno, ENOTSUP) << "7z cannot store extended attributes";
  const ssize_t list = ::listxattr(mnt.c_str(), nullptr, 0);
  std::string names(static_cast<std::size_t>(list), '\0');
  ASSERT_EQ(::listxattr(mnt.c_str(), names.data(), names.size()), list);
  EXPECT_NE(names.find(std::string("user.sevenzfs.staged_files\0", 27)), std::string::npos);
  // A file's state is read by name, not listed (cp -a would copy it out).
  EXPECT_EQ(::listxattr((mnt / "f").c_str(), nullptr, 0), 0);
  EXPECT_GT(::getxattr((mnt / "f").c_str(), "user.sevenzfs.state", nullptr, 0), 0);
  // Removing a computed statistic changes nothing and succeeds (rsync -X
  // removes what its source lacks); other attributes there are none to remove.
  EXPECT_EQ(::removexattr(mnt.c_str(), "user.sevenzfs.staged_files"), 0);
  EXPECT_GT(::getxattr(mnt.c_str(), "user.sevenzfs.staged_files", nullptr, 0), 0);
  EXPECT_EQ(::removexattr((mnt / "f").c_str(), "user.sevenzfs.state"), 0);
  EXPECT_EQ(::removexattr(mnt.c_str(), "user.sevenzfs.no_such_figure"), -1);
  EXPECT_EQ(errno, ENODATA);
  EXPECT_EQ(::removexattr((mnt / "f").c_str(), "user.mine"), -1);
  EXPECT_EQ(errno, ENOTSUP);
  ASSERT_EQ(daemon->unmount_and_wait(), 0);
}

TEST_F(mount_fixture, ABackupOfTheRootWithItsAttributesCopiesBackIntoTheMount) {
  // The root's statistics are listed (getfattr -d shows them), so rsync -X
  // copies them onto the backup's top directory; copied back, setting them
  // succeeds and changes nothing, so that the restore does not fail.
  auto daemon = mount();
  write_file(mnt / "f.txt", "kept");
  const std::string backup = (dir / "backup").string();
  const auto out = run("rsync -aX " + quote(mnt.string()) + "/ " + quote(backup) + "/");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  const auto copied = run("getfattr -d " + quote(backup));
  EXPECT_NE(copied.output.find("user.sevenzfs.staged_files=\"1\""), std::string::npos) << copied.output;
  write_file(dir / "backup" / "f.txt", "changed in the backup");
  const auto back = run("rsync -aX " + quote(backup) + "/ " + quote(mnt.string()) + "/");
  EXPECT_EQ(back.exit_code, 0) << back.output;
  EXPECT_EQ(read_file(mnt / "f.txt"), "changed in the backup");
  EXPECT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.staged_files", "99", 2, 0), 0);
  std::string value(16, '\0');
  const ssize_t size = ::getxattr(mnt.c_str(), "user.sevenzfs.staged_files", value.data(), value.size());
  ASSERT_GT(size, 0);
  EXPECT_EQ(value.substr(0, static_cast<std::size_t>(size)), "1") << "computed, not stored";
  EXPECT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.no_such_figure", "1", 1, 0), -1);
  EXPECT_EQ(errno, ENOTSUP);
  EXPECT_EQ(::setxattr((mnt / "f.txt").c_str(), "user.sevenzfs.state", "{}", 2, 0), -1) << "not listed, not copied";
  EXPECT_EQ(errno, ENOTSUP);
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
}

TEST_F(mount_fixture, RenameUnlinkTruncateAndRefusals) {
  auto daemon = mount();
  fs::create_directories(mnt / "d" / "sub");
  write_file(mnt / "d" / "a.txt", "aaaaaaaaaa");
  write_file(mnt / "d" / "b.txt", "bbbb");
  write_file(mnt / "gone.txt", "deleted before any commit");
  fs::rename(mnt / "d" / "a.txt", mnt / "d" / "sub" / "moved.txt");
  fs::rename(mnt / "d" / "sub", mnt / "renamed-dir");
  EXPECT_EQ(::syscall(SYS_renameat2, AT_FDCWD, (mnt / "d" / "b.txt").c_str(), AT_FDCWD,
                      (mnt / "renamed-dir" / "moved.txt").c_str(), 1 /* RENAME_NOREPLACE */),
            -1);
  EXPECT_EQ(errno, EEXIST);
  // Exchanged twice: back where they were.
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(::syscall(SYS_renameat2, AT_FDCWD, (mnt / "d" / "b.txt").c_str(), AT_FDCWD,
                        (mnt / "renamed-dir" / "moved.txt").c_str(), 2 /* RENAME_EXCHANGE */),
              0);
  }
  EXPECT_EQ(::syscall(SYS_renameat2, AT_FDCWD, (mnt / "d" / "b.txt").c_str(), AT_FDCWD, (mnt / "nothing").c_str(),
                      2 /* RENAME_EXCHANGE */),
            -1);
  EXPECT_EQ(errno, ENOENT);
  fs::remove(mnt / "gone.txt");
  ASSERT_EQ(::truncate((mnt / "renamed-dir" / "moved.txt").c_str(), 4), 0);
  ASSERT_EQ(::truncate((mnt / "d" / "b.txt").c_str(), 8), 0);
  EXPECT_EQ(read_file(mnt / "d" / "b.txt"), std::string("bbbb\0\0\0\0", 8));
  EXPECT_EQ(::rmdir((mnt / "d").c_str()), -1);
  EXPECT_EQ(errno, ENOTEMPTY);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(::link((mnt / "d" / "b.txt").c_str(), (mnt / "hard").c_str()), -1);
    EXPECT_EQ(errno, EPERM);
  }
  EXPECT_EQ(::mkfifo((mnt / "fifo").c_str(), 0644), -1);
  EXPECT_EQ(errno, EPERM);
  fs::create_directories(mnt / "empty-then-removed");
  fs::remove(mnt / "empty-then-removed");
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  const std::string daemon_log = daemon->log();
  const auto first = daemon_log.find("hard links are not supported");
  EXPECT_NE(first, std::string::npos) << daemon_log;
  EXPECT_EQ(daemon_log.find("hard links are not supported", first + 1), std::string::npos) << "logged once, refused thrice";

  extract_all("x");
  EXPECT_EQ(read_file(dir / "x" / "renamed-dir" / "moved.txt"), "aaaa");
  EXPECT_EQ(read_file(dir / "x" / "d" / "b.txt"), std::string("bbbb\0\0\0\0", 8));
  EXPECT_FALSE(fs::exists(dir / "x" / "gone.txt"));
  EXPECT_FALSE(fs::exists(dir / "x" / "empty-then-removed"));
  EXPECT_FALSE(fs::exists(dir / "x" / "d" / "sub"));
}

namespace {

// Which effort compressed the archive's header ("quick" or "best"): its
// packed stream is what compress_header makes of the unpacked header with
// that effort. Which of them is smaller depends on the header (the best is
// not always: 8,338 bytes against 8,270 quick for 3,000 short names).
std::string header_effort_of(const std::filesystem::path& archive) {
  namespace archive_ns = sevenzfs::archive;
  const auto layout = archive_ns::read_archive(archive.string());
  if (!layout.header_folder) return "not encoded";
  std::vector<std::uint8_t> packed(layout.header_offset - layout.header_start);
  if (::pread(layout.file.get(), packed.data(), packed.size(), static_cast<off_t>(layout.header_start)) !=
      static_cast<ssize_t>(packed.size())) {
    return "unreadable";
  }
  const auto plain = archive_ns::decode_packed_header(layout.file.get(), layout.header_start, packed.size(),
                                                      *layout.header_folder, archive.string());
  const auto compressed = [&](archive_ns::header_effort effort) {
    std::vector<std::uint8_t> joined;
    for (const auto& part : archive_ns::compress_header(plain, 1, effort).parts) {
      joined.insert(joined.end(), part.begin(), part.end());
    }
    return joined;
  };
  const auto quick = compressed(archive_ns::header_effort::quick);
  const auto best = compressed(archive_ns::header_effort::best);
  if (quick == best) return "either";
  return packed == quick ? "quick" : packed == best ? "best" : "neither";
}

}  // namespace

// The header of a commit the mount goes on after (a flush's, an fsync's) is
// compressed quickly, the mount's last one with 7-Zip's effort.
TEST_F(mount_fixture, AnFsyncsHeaderIsQuickAndTheLastCommitsTheBest) {
  auto daemon = mount("level=1");
  for (int d = 0; d < 30; ++d) {
    fs::create_directories(mnt / fmt::format("d{:02}", d));
    for (int i = 0; i < 100; ++i) {
      write_file(mnt / fmt::format("d{:02}", d) / fmt::format("file-{:05}.txt", i), fmt::format("content {}\n", i));
    }
  }
  ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0);
  EXPECT_EQ(header_effort_of(archive), "quick");
  write_file(mnt / "synced", "x");
  ASSERT_EQ(run("sync " + quote((mnt / "synced").string())).exit_code, 0);
  EXPECT_EQ(header_effort_of(archive), "quick");
  fs::rename(mnt / "synced", mnt / "renamed");
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  EXPECT_EQ(header_effort_of(archive), "best");
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
}

// A log continued in place: the header that stands in while its folder
// grows (described without its end marker, in case of a crash) is replaced
// by the same commit, so it is compressed quickly.
TEST_F(mount_fixture, TheStandInHeaderOfALogGrowingInPlaceIsQuick) {
  std::string logged;
  for (int k = 0; k < 20000; ++k) logged += fmt::format("request {} served\n", k * 7919 % 100003);
  {
    auto daemon = mount();
    for (int d = 0; d < 30; ++d) {
      fs::create_directories(mnt / fmt::format("d{:02}", d));
      for (int i = 0; i < 100; ++i) {
        write_file(mnt / fmt::format("d{:02}", d) / fmt::format("file-{:05}.txt", i), fmt::format("content {}\n", i));
      }
    }
    ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0);
    write_file(mnt / "app.log", logged);
    ASSERT_EQ(run("sync " + quote((mnt / "app.log").string())).exit_code, 0);  // the last folder
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  }
  {
    daemon_process daemon(archive, mnt, "", log, {"SEVENZFS_TEST_EXIT_AFTER_APPEND_STEP=1"});
    ASSERT_TRUE(daemon.wait_mounted()) << daemon.log();
    const auto appended = run("echo 'one more line' >> " + quote((mnt / "app.log").string()) + " && sync " +
                              quote((mnt / "app.log").string()));
    EXPECT_NE(appended.exit_code, 0) << "the daemon was to die during the fsync's commit";
    EXPECT_EQ(daemon.wait_exit(std::chrono::seconds(30)), 99) << daemon.log();
    run("fusermount3 -u -z " + quote(mnt.string()));
  }
  EXPECT_EQ(header_effort_of(archive), "quick");
  const auto tested = run("7zz t " + quote(archive.string()));
  EXPECT_EQ(tested.exit_code, 0) << tested.output;
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " app.log").output, logged);
}

// fallocate(1) and posix_fallocate through the mount: the size is there at
// once (glibc does not fall back to writing a zero per block), the new bytes
// read as zeros here and in the archive; a hole punch is refused.
TEST_F(mount_fixture, FallocateExtendsTheFileWithZeros) {
  auto daemon = mount();
  write_file(mnt / "f", "head");
  const int fd = ::open((mnt / "f").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::fallocate(fd, 0, 0, 1 << 20), 0) << std::strerror(errno);
  EXPECT_EQ(::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4 << 20), 0) << std::strerror(errno);
  EXPECT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
  EXPECT_EQ(::posix_fallocate(fd, 0, 3 << 20), 0);
  ::close(fd);
  const std::string expected = "head" + std::string((3 << 20) - 4, '\0');
  EXPECT_EQ(read_file(mnt / "f"), expected);
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  extract_all("x");
  EXPECT_EQ(read_file(dir / "x" / "f"), expected);
}

// A write or truncate by someone other than root clears a file's set-user-ID
// and set-group-ID bits, as on any POSIX filesystem: otherwise whoever may
// write a set-user-ID program could change what it runs as its owner.
TEST_F(mount_fixture, WritesByOthersClearSetIdBits) {
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  auto daemon = mount("allow_other");
  const auto written = mnt / "written";
  const auto truncated = mnt / "truncated";
  const auto by_root = mnt / "by-root";
  for (const auto& path : {written, truncated, by_root}) {
    write_file(path, "#!/bin/sh\n");
    ASSERT_EQ(::chmod(path.c_str(), 06777), 0);
  }
  const auto as_nobody = [](const std::string& command) {
    return run("setpriv --reuid=65534 --regid=65534 --clear-groups sh -c " + quote(command));
  };
  const auto appended = as_nobody("echo id >> " + quote(written.string()));
  ASSERT_EQ(appended.exit_code, 0) << appended.output;
  const auto cut = as_nobody("truncate -s 3 " + quote(truncated.string()));
  ASSERT_EQ(cut.exit_code, 0) << cut.output;
  write_file(by_root, "#!/bin/sh\necho root may\n");
  const auto mode_of = [](const fs::path& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0u;
  };
  EXPECT_EQ(mode_of(written), 0777u);
  EXPECT_EQ(mode_of(truncated), 0777u);
  EXPECT_EQ(mode_of(by_root), 06777u) << "root (CAP_FSETID) keeps the bits";
  EXPECT_EQ(read_file(written), "#!/bin/sh\nid\n");
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  const auto listed = run("7zz l -slt " + quote(archive.string()) + " written");
  EXPECT_EQ(listed.output.find("-rwsrwsrwx"), std::string::npos) << listed.output;
}

TEST_F(mount_fixture, CorruptArchiveIsRefusedAndLeftUntouched) {
  write_file(archive, "7z\xbc\xaf\x27\x1c but damaged beyond the signature");
  const std::string before = read_file(archive);
  daemon_process daemon(archive, mnt, "", log);
  EXPECT_FALSE(daemon.wait_mounted(std::chrono::seconds(10)));
  EXPECT_EQ(daemon.wait_exit(std::chrono::seconds(10)), 3);
  EXPECT_NE(daemon.log().find("left untouched"), std::string::npos) << daemon.log();
  EXPECT_EQ(read_file(archive), before);
  EXPECT_FALSE(is_mounted(mnt));
}

TEST_F(mount_fixture, BadOptionsAreRefusedClearly) {
  for (const char* options : {"mode=fastest", "level=12", "pool_size=1K", "pool_size=100T", "frobnicate"}) {
    daemon_process daemon(archive, mnt, options, log);
    EXPECT_EQ(daemon.wait_exit(std::chrono::seconds(10)), 2) << options;
  }
  EXPECT_NE(read_file(log).find("unknown option(s): `-o frobnicate'"), std::string::npos) << read_file(log);
  EXPECT_FALSE(fs::exists(archive.string() + ".lock")) << "a bad command line touches nothing";
  // mount(8)'s pass-through options are fine.
  auto daemon = mount("rw,nofail,_netdev,x-systemd.automount,noatime");
  EXPECT_EQ(daemon->unmount_and_wait(), 0);
  EXPECT_FALSE(fs::exists(dir / "archive.7z.pending")) << "nothing else is left beside the archive";
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0) << "an empty archive";
}

// An archive path naming something that is not a regular file is refused
// before a lock file is made beside it (there was a /dev/null.lock).
TEST_F(mount_fixture, AnArchiveThatIsNotARegularFileIsRefusedAndNothingIsCreated) {
  const auto directory = dir / "dir.7z";
  fs::create_directories(directory);
  const auto fifo = dir / "fifo.7z";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto file = dir / "file.7z";
  write_file(file, "not a directory\n");
  const std::pair<fs::path, std::string> cases[] = {
      {directory, "not an archive: a directory"}, {fifo, "not an archive: a FIFO"}, {file / "a.7z", "Not a directory"}};
  for (const auto& [path, message] : cases) {
    daemon_process daemon(path, mnt, "", log);
    EXPECT_EQ(daemon.wait_exit(std::chrono::seconds(10)), 3) << path;
    EXPECT_NE(daemon.log().find(message), std::string::npos) << daemon.log();
    EXPECT_FALSE(fs::exists(path.string() + ".lock")) << path;
  }
  daemon_process empty_name("", mnt, "", log);
  EXPECT_EQ(empty_name.wait_exit(std::chrono::seconds(10)), 2);
  EXPECT_NE(empty_name.log().find("names a directory, not an archive file"), std::string::npos) << empty_name.log();
}

TEST_F(mount_fixture, MoreDataThanThePoolStreamsThroughTheCompressor) {
  // 48 MiB in 192 files through an 8 MiB pool: closed files are compressed
  // while the copy goes on and their memory is freed, with no commit and
  // without cutting the solid folder at each pool's worth.
  auto daemon = mount("pool_size=8M,level=1");
  std::string block;
  for (int i = 0; block.size() < (256u << 10); ++i) block += "line " + std::to_string(i) + " of a log file\n";
  block.resize(256u << 10);
  for (int i = 0; i < 192; ++i) write_file(mnt / ("part" + std::to_string(i) + ".log"), block);
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.commits_total"), "0");
  EXPECT_GT(std::stoull(xattr(mnt, "user.sevenzfs.pool_high_water_bytes")), 100u * 65536);
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  EXPECT_NE(run("7zz l " + quote(archive.string()) + " | tail -1").output.find("192 files"), std::string::npos);
  // Level 1's solid block is 32 MiB (128 x its 256 KiB dictionary): two
  // folders, not one per pool's worth.
  EXPECT_NE(run("7zz l -slt " + quote(archive.string())).output.find("Blocks = 2\n"), std::string::npos);
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " part191.log").output, block);
}

TEST_F(mount_fixture, LookupsAndProgressStayLiveDuringACommit) {
  // 8 MiB of noise at level 9 with one thread: a commit of several seconds.
  auto daemon = mount("level=9,threads=1");
  std::string noise(8u << 20, '\0');
  std::uint64_t state = 88172645463325252ull;
  for (auto& c : noise) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    c = static_cast<char>(state);
  }
  write_file(mnt / "noise.bin", noise);
  fs::create_directories(mnt / "sub");
  std::thread flusher([&] { ::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (xattr(mnt, "user.sevenzfs.committing") != "1" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(xattr(mnt, "user.sevenzfs.committing"), "1");
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.commit_pending_bytes"), std::to_string(8u << 20));
  // In a subdirectory: the kernel itself holds the root's inode lock while
  // the flush setxattr on the root runs, so lookups right in the root wait.
  const auto started = std::chrono::steady_clock::now();
  struct stat st {};
  EXPECT_EQ(::stat((mnt / "sub" / "not-there").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2)) << "a lookup waited for the commit";
  const double first = std::stod(xattr(mnt, "user.sevenzfs.commit_progress_percent"));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  const double second = std::stod(xattr(mnt, "user.sevenzfs.commit_progress_percent"));
  EXPECT_GE(second, first);
  EXPECT_LE(second, 100.0);
  flusher.join();
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.committing"), "0");
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.commits_total"), "1");
  EXPECT_GT(std::stod(xattr(mnt, "user.sevenzfs.last_commit_duration_seconds")), 0.0);
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  write_file(dir / "noise-copy", noise);
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " noise.bin | cmp - " + quote((dir / "noise-copy").string()))
                .exit_code,
            0);
}

TEST_F(mount_fixture, FlushIntervalCommitsWithoutBeingAsked) {
  auto daemon = mount("flush_interval=1");
  write_file(mnt / "log.txt", "a line\n");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (xattr(mnt, "user.sevenzfs.commits_total") == "0" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.commits_total"), "1");
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " log.txt").output, "a line\n") << "committed while mounted";
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.commits_total"), "1") << "no commit when nothing changed";
  ASSERT_EQ(daemon->unmount_and_wait(), 0);
}

TEST_F(mount_fixture, ConcurrentFsyncsShareCommits) {
  auto daemon = mount();
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        const auto path = mnt / std::string("w").append(std::to_string(t)).append("-").append(std::to_string(i));
        const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY, 0644);
        if (fd < 0 || ::write(fd, "data\n", 5) != 5 || ::fdatasync(fd) != 0) ++failures;
        ::close(fd);
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(failures.load(), 0);
  const int commits = std::stoi(xattr(mnt, "user.sevenzfs.commits_total"));
  EXPECT_GE(commits, 1);
  EXPECT_LT(commits, 40) << "40 fdatasyncs, each waited for, in fewer shared commits";
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.archived_files"), "40");
  ASSERT_EQ(daemon->unmount_and_wait(), 0);
}

TEST_F(mount_fixture, FailedFinalCommitExitsNonZeroAndKeepsTheLastGoodArchive) {
  // The archive lives on a 1 MiB tmpfs: the final commit cannot fit.
  small_tmpfs small(dir / "small", "1m");
  ASSERT_TRUE(small.mounted());
  const auto small_archive = small / "a.7z";
  daemon_process daemon(small_archive, mnt, "level=0", log);
  ASSERT_TRUE(daemon.wait_mounted()) << daemon.log();
  write_file(mnt / "fits.txt", "small\n");
  ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0);
  write_file(mnt / "too-big.bin", std::string(3u << 20, 'z'));
  EXPECT_EQ(daemon.unmount_and_wait(), 1) << daemon.log();
  EXPECT_NE(daemon.log().find("final commit failed"), std::string::npos) << daemon.log();
  EXPECT_EQ(run("7zz t " + quote(small_archive.string())).exit_code, 0) << "the last good commit";
  EXPECT_EQ(run("7zz e -so " + quote(small_archive.string()) + " fits.txt").output, "small\n");
}

TEST_F(mount_fixture, ReaddirStaysStableWhileEntriesAreAdded) {
  auto daemon = mount();
  for (int i = 0; i < 300; ++i) write_file(mnt / std::string("old").append(std::to_string(i)), "");
  DIR* listing = ::opendir(mnt.c_str());
  ASSERT_NE(listing, nullptr);
  std::multiset<std::string> seen;
  int added = 0;
  while (const dirent* item = ::readdir(listing)) {
    seen.insert(item->d_name);
    if (added < 300 && seen.size() % 10 == 0) write_file(mnt / std::string("new").append(std::to_string(added++)), "");
  }
  ::closedir(listing);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(seen.count(std::string("old").append(std::to_string(i))), 1u) << i;
  for (const auto& name : seen) EXPECT_EQ(seen.count(name), 1u) << name << " listed twice";
  ASSERT_EQ(daemon->unmount_and_wait(), 0);
}

TEST_F(mount_fixture, RsyncTarAndStatfsWork) {
  make_fixture_tree(dir / "src", {.non_bmp_names = false});
  auto daemon = mount("pool_size=64M");
  // The space of the archive's filesystem, not the pool's 64 MiB: what fits
  // is what fits there.
  struct statvfs st {};
  struct statvfs beside {};
  ASSERT_EQ(::statvfs(mnt.c_str(), &st), 0);
  ASSERT_EQ(::statvfs(dir.path().c_str(), &beside), 0);
  EXPECT_EQ(st.f_blocks * st.f_frsize, beside.f_blocks * beside.f_frsize);
  EXPECT_NEAR(static_cast<double>(st.f_bavail * st.f_frsize), static_cast<double>(beside.f_bavail * beside.f_frsize),
              64.0 * (1 << 20));
  EXPECT_GT(st.f_ffree, 0u);
  // rsync writes a temporary and renames it over the target.
  const auto synced = run("rsync -a " + quote((dir / "src").string()) + "/ " + quote((mnt / "synced").string()) + "/");
  ASSERT_EQ(synced.exit_code, 0) << synced.output;
  fs::create_directories(mnt / "untarred");
  const auto untarred = run("tar -C " + quote((dir / "src").string()) + " -cf - . | tar -C " +
                            quote((mnt / "untarred").string()) + " -xpf -");
  EXPECT_EQ(untarred.exit_code, 0) << untarred.output;
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  extract_all("x");
  EXPECT_EQ(join(compare_trees(dir / "src", dir / "x" / "synced")), "");
  EXPECT_EQ(join(compare_trees(dir / "src", dir / "x" / "untarred")), "");
}

TEST_F(mount_fixture, DaemonKilledBetweenAppendStepsLeavesAValidArchive) {
  {
    auto daemon = mount();
    write_file(mnt / "first.txt", "from the first mount\n");
    ASSERT_EQ(daemon->unmount_and_wait(), 0);
  }
  for (int step = 1; step <= 3; ++step) {
    SCOPED_TRACE(step);
    const std::string before = read_file(archive);
    {
      daemon_process daemon(archive, mnt, "", log, {"SEVENZFS_TEST_EXIT_AFTER_APPEND_STEP=" + std::to_string(step)});
      ASSERT_TRUE(daemon.wait_mounted()) << daemon.log();
      write_file(mnt / std::string("step").append(std::to_string(step)).append(".txt"), "appended\n");
      ::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0);  // the daemon dies during this commit
      EXPECT_EQ(daemon.wait_exit(std::chrono::seconds(30)), 99);
      run("fusermount3 -u -z " + quote(mnt.string()));
    }
    const auto tested = run("7zz t " + quote(archive.string()));
    ASSERT_EQ(tested.exit_code, 0) << tested.output;
    EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " first.txt").output, "from the first mount\n");
    const bool has_new =
        run("7zz e -so " + quote(archive.string()) + " step" + std::to_string(step) + ".txt").output == "appended\n";
    EXPECT_EQ(has_new, step == 3) << "steps 1-2 keep the old archive, step 3 has the new one";
    // The next mount opens it and commits on top.
    auto daemon = mount();
    EXPECT_TRUE(fs::exists(mnt / "first.txt"));
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  }
}

TEST_F(mount_fixture, ArchivedFileEmptiedStaysEmpty) {
  auto daemon = mount();
  write_file(mnt / "f.txt", "content that gets archived\n");
  ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0);
  ASSERT_EQ(::truncate((mnt / "f.txt").c_str(), 0), 0);
  ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0);
  write_file(mnt / "other.txt", "x");  // a third commit releases memory again
  ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0);
  EXPECT_EQ(fs::file_size(mnt / "f.txt"), 0u);
  EXPECT_EQ(xattr(mnt / "f.txt", "user.sevenzfs.state"), R"({"state":"empty","size":0})");
  ASSERT_EQ(daemon->unmount_and_wait(), 0);
  extract_all("x");
  EXPECT_EQ(fs::file_size(dir / "x" / "f.txt"), 0u) << "the newest copy wins on extraction";
}
