// Changing what is archived, driven through the filesystem without a mount:
// removed, replaced, moved and exchanged entries reach the archive at the
// next commit (each path stored once, judged by 7zz); dead bytes are
// reported and reclaimed on request and automatically; entries of an
// archive whose names cannot be shown as stored are shown inside the mount
// and stored as shown; archived entries take the owner the options name; a
// file grown by appends (a log) continues its archived folder. Archived
// files changed at random (appends, writes, truncations, reads, commits on
// another thread, remounts, spills through a tiny pool, streaming) read and
// commit as a model of them says; one that cannot be decoded refuses changes.
#include "fs_test_support.hpp"
#include "sample_bytes.hpp"
#include "test_support.hpp"

#include "archive/archive_reader.hpp"
#include "archive/archive_writer.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <thread>

using namespace sevenzfs;
using namespace sevenzfs::test;
using fs::kRootInode;

namespace {

struct archive_changes : testing::Test {
  temp_dir dir;
  std::filesystem::path archive = dir / "a.7z";
  captured_log log;
  fs::caller me{::getuid(), ::getgid(), {}};
  fs::daemon_options options = small_daemon_options(archive);

  std::unique_ptr<fs::filesystem> open() { return std::make_unique<fs::filesystem>(options, log.logger()); }

  // Every stored path, sorted, one per line (duplicates show twice).
  std::string listing() {
    return run("7zz l -ba -slt " + quote(archive.string()) + " | grep '^Path = ' | cut -c8- | LC_ALL=C sort").output;
  }
  std::string extracted(const std::string& member) {
    return run("7zz e -so " + quote(archive.string()) + " " + quote(member)).output;
  }
  // Whether a commit was told a file grew by appends only when it had been
  // written before its end too (the archive stays right: it is compressed whole).
  bool a_changed_file_was_taken_for_appended() const {
    return log.text().find("did not start with their archived copy") != std::string::npos;
  }
  std::uint64_t stat_of(fs::filesystem& filesystem, const std::string& name) {
    return std::stoull(filesystem.getxattr(kRootInode, "user.sevenzfs." + name, false).value_or("999999999"));
  }
  bool committing(fs::filesystem& filesystem) { return stat_of(filesystem, "committing") == 1; }
  // A commit of everything on a thread of its own, returned once it runs (or after
  // 20 s); joined when it goes, also when an assertion returns early.
  std::jthread commit_in_background(fs::filesystem& filesystem) {
    std::jthread fsync([&filesystem] { EXPECT_TRUE(filesystem.commit_everything()); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!committing(filesystem) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return fsync;
  }
};

fs::inode_number entry_of(fs::filesystem& filesystem, fs::inode_number parent, const std::string& name) {
  const auto found = filesystem.lookup(parent, name);
  return found ? found->st_ino : 0;
}

// Log lines tagged `tag`, about `size` bytes.
std::string sample_log_lines(const std::string& tag, std::size_t size) {
  std::mt19937_64 next(std::hash<std::string>{}(tag));
  std::string text;
  while (text.size() < size) {
    text += fmt::format("2026-12-04T05:{:02}:{:02} INFO {} request={} took {} ms\n", next() % 60, next() % 60, tag,
                        next() % 1'000'000, next() % 5000);
  }
  return text;
}

// Numbers and lowercase text for the random tests, from `seed`.
struct random_source {
  std::mt19937_64 next;
  explicit random_source(std::uint64_t seed) : next(seed) {}
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
  std::string letters(std::size_t size) {
    std::string text(size, '\0');
    for (auto& c : text) c = static_cast<char>('a' + below(26));
    return text;
  }
};

// The random tests' operations on one file and on its model (a string).
struct modelled_file {
  std::string model;
  void write(fs::filesystem& filesystem, fs::inode_number file, std::uint64_t at, const std::string& text) {
    ASSERT_TRUE(filesystem.write(file, bytes_of_text(text), static_cast<off_t>(at)));
    if (model.size() < at + text.size()) model.resize(at + text.size(), '\0');  // a hole reads as zeros
    model.replace(at, text.size(), text);
  }
  void truncate(fs::filesystem& filesystem, fs::inode_number file, std::uint64_t size) {
    fs::attribute_changes changes;
    changes.size = size;
    ASSERT_TRUE(filesystem.setattr(file, changes));
    model.resize(size, '\0');
  }
  // A read returns the model's bytes, fewer only at the end of the file.
  void read(fs::filesystem& filesystem, fs::inode_number file, std::uint64_t at, std::size_t length) const {
    std::vector<std::byte> out(length);
    const auto n = filesystem.read(file, out, static_cast<off_t>(at));
    ASSERT_TRUE(n);
    const std::string want = at < model.size() ? model.substr(at, length) : std::string();
    ASSERT_EQ(*n, want.size());
    ASSERT_TRUE(std::memcmp(out.data(), want.data(), want.size()) == 0) << "at " << at;
  }
};

void rewrite(fs::filesystem& filesystem, fs::inode_number file, const std::string& text) {
  ASSERT_TRUE(filesystem.open(file, O_WRONLY | O_TRUNC));
  fs::attribute_changes empty;
  empty.size = 0;
  ASSERT_TRUE(filesystem.setattr(file, empty));
  ASSERT_TRUE(filesystem.write(file, bytes_of_text(text), 0));
  filesystem.release(file, O_WRONLY);
}

}  // namespace

TEST_F(archive_changes, RemovedReplacedMovedAndExchangedEntriesReachTheArchive) {
  {
    auto filesystem = open();
    for (const char* name : {"gone.txt", "rewritten.txt", "moved.txt", "left.txt", "right.txt", "kept.txt"}) {
      make_file(*filesystem, kRootInode, name, std::string("was ") + name);
    }
    const auto d = filesystem->mkdir(kRootInode, "d", 0755, me)->st_ino;
    make_file(*filesystem, d, "inner.txt", "inner");
    ASSERT_TRUE(filesystem->mkdir(kRootInode, "emptied", 0755, me));
    ASSERT_TRUE(filesystem->final_commit());
  }
  auto filesystem = open();
  const auto d = entry_of(*filesystem, kRootInode, "d");
  ASSERT_TRUE(filesystem->unlink(kRootInode, "gone.txt"));
  rewrite(*filesystem, entry_of(*filesystem, kRootInode, "rewritten.txt"), "new content");
  ASSERT_TRUE(filesystem->rename(kRootInode, "moved.txt", d, "moved-here.txt", 0));
  ASSERT_TRUE(filesystem->rename(kRootInode, "left.txt", kRootInode, "right.txt", RENAME_EXCHANGE));
  ASSERT_TRUE(filesystem->rmdir(kRootInode, "emptied"));
  // A file replaced by a directory of the same name, and the other way round.
  ASSERT_TRUE(filesystem->unlink(kRootInode, "kept.txt"));
  ASSERT_TRUE(filesystem->mkdir(kRootInode, "kept.txt", 0755, me));
  ASSERT_TRUE(filesystem->unlink(d, "inner.txt"));
  ASSERT_TRUE(filesystem->unlink(d, "moved-here.txt"));
  ASSERT_TRUE(filesystem->rmdir(kRootInode, "d"));
  make_file(*filesystem, kRootInode, "d", "d is a file now");
  ASSERT_TRUE(filesystem->commit_everything());

  EXPECT_EQ(listing(), "d\nkept.txt\nleft.txt\nrewritten.txt\nright.txt\n");
  EXPECT_EQ(extracted("rewritten.txt"), "new content");
  EXPECT_EQ(extracted("left.txt"), "was right.txt");
  EXPECT_EQ(extracted("right.txt"), "was left.txt");
  EXPECT_EQ(extracted("d"), "d is a file now");
  EXPECT_EQ(run("7zz t " + quote(archive.string()) + " >/dev/null").exit_code, 0);
  // And after reopening, the tree is the one committed.
  filesystem.reset();
  filesystem = open();
  EXPECT_EQ(entry_of(*filesystem, kRootInode, "gone.txt"), 0u);
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "left.txt")), "was right.txt");
  EXPECT_TRUE(filesystem->getattr(entry_of(*filesystem, kRootInode, "kept.txt"))->st_mode & S_IFDIR);
}

TEST_F(archive_changes, ExchangeRefusesToPutADirectoryBelowItself) {
  auto filesystem = open();
  const auto a = filesystem->mkdir(kRootInode, "a", 0755, me)->st_ino;
  const auto b = filesystem->mkdir(a, "b", 0755, me)->st_ino;
  make_file(*filesystem, b, "f", "f");
  const auto refused = filesystem->rename(kRootInode, "a", b, "f", RENAME_EXCHANGE);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, EINVAL);
  const auto missing = filesystem->rename(kRootInode, "a", kRootInode, "nothing", RENAME_EXCHANGE);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_FALSE(filesystem->rename(kRootInode, "a", kRootInode, "x", RENAME_EXCHANGE | RENAME_NOREPLACE));
  // Exchanging a directory with a file elsewhere is fine.
  make_file(*filesystem, kRootInode, "top", "top");
  ASSERT_TRUE(filesystem->rename(a, "b", kRootInode, "top", RENAME_EXCHANGE));
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, a, "b")), "top");
  EXPECT_NE(entry_of(*filesystem, entry_of(*filesystem, kRootInode, "top"), "f"), 0u);
}

TEST_F(archive_changes, DeadBytesAreReportedAndReclaimedOnRequest) {
  options.write.plan.mode = archive::pack_mode::batched;
  options.compact_at_percent = 0;  // only on request
  auto filesystem = open();
  const std::string noise = random_bytes(200'000, 1);
  make_file(*filesystem, kRootInode, "old", noise);
  ASSERT_TRUE(filesystem->commit_everything());
  make_file(*filesystem, kRootInode, "newest", noise + "!");
  ASSERT_TRUE(filesystem->commit_everything());
  const auto before = std::filesystem::file_size(archive);
  // The newest folder loses its file: cut off in place, its bytes stay dead
  // before the header.
  ASSERT_TRUE(filesystem->unlink(kRootInode, "newest"));
  ASSERT_TRUE(filesystem->commit_everything());
  EXPECT_EQ(listing(), "old\n");
  const auto dead = stat_of(*filesystem, "dead_bytes");
  EXPECT_GT(dead, 150'000u);
  EXPECT_GE(std::filesystem::file_size(archive), before - 1000) << "no rewrite happened for this commit";
  ASSERT_TRUE(filesystem->setxattr(kRootInode, "user.sevenzfs.compact", "1", me));
  EXPECT_EQ(stat_of(*filesystem, "dead_bytes"), 0u);
  EXPECT_LT(std::filesystem::file_size(archive), before - dead + 1000);
  EXPECT_EQ(extracted("old"), noise);
  EXPECT_EQ(run("7zz t " + quote(archive.string()) + " >/dev/null").exit_code, 0);
  // Nothing dead, nothing to do: no commit is counted.
  const auto commits = stat_of(*filesystem, "commits_total");
  ASSERT_TRUE(filesystem->setxattr(kRootInode, "user.sevenzfs.compact", "1", me));
  EXPECT_EQ(stat_of(*filesystem, "commits_total"), commits);
}

TEST_F(archive_changes, CompactionFollowsACommitThatLeavesTooMuchDead) {
  options.write.plan.mode = archive::pack_mode::batched;
  options.compact_at_percent = 10;
  auto filesystem = open();
  const std::string noise = random_bytes(100'000, 2);
  make_file(*filesystem, kRootInode, "old", noise);
  ASSERT_TRUE(filesystem->commit_everything());
  make_file(*filesystem, kRootInode, "newest", noise + "?");
  ASSERT_TRUE(filesystem->commit_everything());
  ASSERT_TRUE(filesystem->unlink(kRootInode, "newest"));
  ASSERT_TRUE(filesystem->commit_everything());
  EXPECT_EQ(stat_of(*filesystem, "dead_bytes"), 0u);
  EXPECT_NE(log.text().find("compacting"), std::string::npos) << log.text();
  EXPECT_LT(std::filesystem::file_size(archive), 2 * noise.size() - 10'000);
  EXPECT_EQ(listing(), "old\n");
}

TEST_F(archive_changes, OddNamesOfAnArchiveAreShownInsideTheMountAndStoredAsShown) {
  namespace ar = sevenzfs::archive;
  std::vector<ar::entry> odd;
  const auto add = [&](std::string path, std::string text) {
    ar::entry e;
    e.path = std::move(path);
    e.mode = 0644;
    e.mtime = {1'700'000'000, 0};
    e.size = text.size();
    e.content = std::make_shared<ar::memory_content>(std::move(text));
    odd.push_back(std::move(e));
  };
  add("../../escape.txt", "up");
  add("same.txt", "first");
  add("same.txt", "second");
  add("clash", "a file where a directory follows");
  add("clash/inside.txt", "inside");
  add(std::string(300, 'n') + ".txt", "long");
  ar::create_archive(archive.string(), {}, odd, {});

  auto filesystem = open();
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "escape.txt")), "up");
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "same.txt")), "second") << "the later wins";
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "same_1.txt")), "first");
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "clash_1")), "a file where a directory follows");
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, entry_of(*filesystem, kRootInode, "clash"), "inside.txt")),
            "inside");
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, std::string(255, 'n'))), "long");
  for (const char* said : {"'../../escape.txt' is shown as 'escape.txt'", "'same.txt' is shown as 'same_1.txt'",
                           "'clash' is shown as 'clash_1'", "longer than 255 bytes"}) {
    EXPECT_NE(log.text().find(said), std::string::npos) << said << "\n" << log.text();
  }
  make_file(*filesystem, kRootInode, "new.txt", "new");
  ASSERT_TRUE(filesystem->commit_everything());
  EXPECT_EQ(listing(), "clash\nclash/inside.txt\nclash_1\nescape.txt\nnew.txt\n" + std::string(255, 'n') +
                           "\nsame.txt\nsame_1.txt\n");
  EXPECT_EQ(run("7zz t " + quote(archive.string()) + " >/dev/null").exit_code, 0);
}

// An archive with one name 2,000 times: every copy is shown (the last under
// the name, the others as name_1 ... name_1999), and the log says so in at
// most a hundred lines and a count, not a line per entry.
TEST_F(archive_changes, ManyEntriesOfOneNameAreAllShownAndLoggedInBrief) {
  namespace ar = sevenzfs::archive;
  std::vector<ar::entry> same;
  for (int i = 0; i < 2000; ++i) {
    ar::entry e;
    e.path = "dup.txt";
    e.mode = 0644;
    e.mtime = {1'700'000'000, 0};
    const std::string text = std::to_string(i);
    e.size = text.size();
    e.content = std::make_shared<ar::memory_content>(text);
    same.push_back(std::move(e));
  }
  ar::create_archive(archive.string(), {}, same, {});

  auto filesystem = open();
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "dup.txt")), "1999");
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "dup_1.txt")), "0");
  EXPECT_EQ(read_all(*filesystem, entry_of(*filesystem, kRootInode, "dup_1999.txt")), "1998");
  const std::string text = log.text();
  std::size_t lines = 0;
  for (auto at = text.find("is shown as"); at != std::string::npos; at = text.find("is shown as", at + 1)) ++lines;
  EXPECT_EQ(lines, 100u) << text.substr(0, 2000);
  EXPECT_NE(text.find("1899 more lines about entries shown under other names are left out"), std::string::npos)
      << text.substr(0, 2000);
}

TEST_F(archive_changes, ArchivedEntriesBelongToTheOwnerTheOptionsName) {
  {
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "private", "secret", 0600);
    ASSERT_TRUE(filesystem->final_commit());
  }
  options.uid = 1234;
  options.gid = 5678;
  auto filesystem = open();
  const auto st = filesystem->getattr(entry_of(*filesystem, kRootInode, "private"));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->st_uid, 1234u);
  EXPECT_EQ(st->st_gid, 5678u);
  EXPECT_EQ(st->st_mode & 07777, 0600u) << "the mode is stored";
  EXPECT_EQ(filesystem->getattr(kRootInode)->st_uid, 1234u);
}

// A log a service keeps open and appends to, committed by every fsync: each
// commit continues the folder of the last one instead of compressing the
// whole file again — also after a remount — and a write before the end
// makes the next commit compress it whole.
TEST_F(archive_changes, AFileGrownByAppendsContinuesItsArchivedFolder) {
  std::string expected;
  {
    auto filesystem = open();
    const auto log_file = filesystem->create(kRootInode, "service.log", 0644, O_WRONLY | O_APPEND, me)->st_ino;
    const auto append = [&](const std::string& text) {
      ASSERT_TRUE(filesystem->write(log_file, bytes_of_text(text), static_cast<off_t>(expected.size())));
      expected += text;
    };
    append(sample_log_lines("first", 120'000));
    ASSERT_TRUE(filesystem->commit_everything());
    EXPECT_EQ(stat_of(*filesystem, "last_commit_continued_bytes"), 0u);
    const std::uint64_t first_size = expected.size();
    append(sample_log_lines("second", 80'000));
    ASSERT_TRUE(filesystem->commit_everything());
    EXPECT_EQ(stat_of(*filesystem, "last_commit_continued_bytes"), first_size);
    EXPECT_EQ(extracted("service.log"), expected);

    // Not an append: the archived bytes are no longer the file's start.
    ASSERT_TRUE(filesystem->write(log_file, bytes_of_text("#"), 10));
    expected[10] = '#';
    append(sample_log_lines("third", 10'000));
    ASSERT_TRUE(filesystem->commit_everything());
    EXPECT_EQ(stat_of(*filesystem, "last_commit_continued_bytes"), 0u);
    EXPECT_FALSE(a_changed_file_was_taken_for_appended());
    EXPECT_EQ(extracted("service.log"), expected);
    filesystem->release(log_file, O_WRONLY);
    ASSERT_TRUE(filesystem->final_commit());
  }
  auto filesystem = open();
  const auto log_file = entry_of(*filesystem, kRootInode, "service.log");
  ASSERT_TRUE(filesystem->open(log_file, O_WRONLY | O_APPEND));
  const std::uint64_t archived = expected.size();
  const std::string more = sample_log_lines("after remount", 30'000);
  ASSERT_TRUE(filesystem->write(log_file, bytes_of_text(more), static_cast<off_t>(archived)));
  expected += more;
  ASSERT_TRUE(filesystem->commit_everything());
  EXPECT_EQ(stat_of(*filesystem, "last_commit_continued_bytes"), archived);
  filesystem->release(log_file, O_WRONLY);
  EXPECT_EQ(extracted("service.log"), expected);
  EXPECT_EQ(run("7zz t " + quote(archive.string()) + " >/dev/null").exit_code, 0);
  EXPECT_EQ(run("bsdtar -xOf " + quote(archive.string()) + " service.log").output, expected);
}

// The service goes on writing while its fsync's commit runs: the commit
// archives the bytes it froze, and the next one continues from that copy.
TEST_F(archive_changes, AppendsDuringACommitAreContinuedByTheNextOne) {
  options.pool_bytes = 64u << 20;
  options.write.compression.level = 5;  // a commit slow enough to write during it
  auto filesystem = open();
  const auto log_file = filesystem->create(kRootInode, "service.log", 0644, O_WRONLY | O_APPEND, me)->st_ino;
  std::string expected = sample_log_lines("before", 3'000'000);
  ASSERT_TRUE(filesystem->write(log_file, bytes_of_text(expected), 0));
  auto fsync = commit_in_background(*filesystem);
  const std::uint64_t frozen = expected.size();
  const std::string during = sample_log_lines("during", 50'000);
  const bool began_during = committing(*filesystem);
  ASSERT_TRUE(filesystem->write(log_file, bytes_of_text(during), static_cast<off_t>(frozen)));
  const bool ended_during = committing(*filesystem);
  fsync.join();
  expected += during;
  ASSERT_TRUE(began_during && ended_during) << "the append must happen while the commit runs";
  EXPECT_EQ(extracted("service.log"), expected.substr(0, frozen));

  ASSERT_TRUE(filesystem->commit_everything());
  EXPECT_EQ(stat_of(*filesystem, "last_commit_continued_bytes"), frozen);
  EXPECT_EQ(extracted("service.log"), expected);
  filesystem->release(log_file, O_WRONLY);
  EXPECT_FALSE(a_changed_file_was_taken_for_appended());
}

// The same, but the write during the commit lands before the frozen end:
// the next commit compresses the file whole and is not told it grew.
TEST_F(archive_changes, AWriteBeforeTheEndDuringACommitIsNoAppend) {
  options.pool_bytes = 64u << 20;
  options.write.compression.level = 5;  // a commit slow enough to write during it
  auto filesystem = open();
  const auto log_file = filesystem->create(kRootInode, "service.log", 0644, O_WRONLY, me)->st_ino;
  std::string expected = sample_log_lines("before", 3'000'000);
  ASSERT_TRUE(filesystem->write(log_file, bytes_of_text(expected), 0));
  auto fsync = commit_in_background(*filesystem);
  const std::string frozen = expected;
  const bool began_during = committing(*filesystem);
  ASSERT_TRUE(filesystem->write(log_file, bytes_of_text("#"), 10));
  const std::string during = sample_log_lines("during", 50'000);
  ASSERT_TRUE(filesystem->write(log_file, bytes_of_text(during), static_cast<off_t>(expected.size())));
  const bool ended_during = committing(*filesystem);
  fsync.join();
  expected[10] = '#';
  expected += during;
  ASSERT_TRUE(began_during && ended_during) << "the writes must happen while the commit runs";
  EXPECT_EQ(extracted("service.log"), frozen);

  ASSERT_TRUE(filesystem->commit_everything());
  EXPECT_EQ(stat_of(*filesystem, "last_commit_continued_bytes"), 0u);
  EXPECT_FALSE(a_changed_file_was_taken_for_appended());
  EXPECT_EQ(extracted("service.log"), expected);
  EXPECT_EQ(read_all(*filesystem, log_file), expected);
  filesystem->release(log_file, O_WRONLY);
}

// `>>` from a shell: the file is closed between appends. The commit, not the
// streaming compressor, takes it, and continues its archived folder.
TEST_F(archive_changes, AFileClosedBetweenAppendsIsContinuedToo) {
  auto filesystem = open();
  filesystem->start_threads();  // closed files are streamed
  const std::string first = sample_log_lines("first", 100'000);
  const auto log_file = make_file(*filesystem, kRootInode, "shell.log", first);
  ASSERT_TRUE(filesystem->commit_everything());
  const std::string more = sample_log_lines("more", 40'000);
  ASSERT_TRUE(filesystem->open(log_file, O_WRONLY | O_APPEND));
  ASSERT_TRUE(filesystem->write(log_file, bytes_of_text(more), static_cast<off_t>(first.size())));
  filesystem->release(log_file, O_WRONLY | O_APPEND);
  ASSERT_TRUE(filesystem->commit_everything());
  EXPECT_EQ(stat_of(*filesystem, "last_commit_continued_bytes"), first.size());
  EXPECT_EQ(extracted("shell.log"), first + more);
  EXPECT_EQ(read_all(*filesystem, log_file), first + more);
  EXPECT_FALSE(a_changed_file_was_taken_for_appended());
}

// One file under random appends, writes, truncations, commits and remounts,
// checked against a model: every read returns the model's bytes (short only
// at the end of the file), and after every commit the archive holds them.
TEST_F(archive_changes, RandomChangesOfAnArchivedFileReadAsTheModelSays) {
  for (const std::uint64_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE(seed);
    std::filesystem::remove(archive);
    random_source random(seed);
    const auto below = [&](std::uint64_t n) { return random.below(n); };
    const auto letters = [&](std::size_t size) { return random.letters(size); };
    modelled_file f;
    const std::string& model = f.model;
    auto filesystem = open();
    auto file = filesystem->create(kRootInode, "f", 0644, O_WRONLY, me)->st_ino;
    for (int step = 0; step < 160; ++step) {
      SCOPED_TRACE(step);
      const auto op = below(100);
      if (op < 35) {
        ASSERT_NO_FATAL_FAILURE(f.write(*filesystem, file, model.size(), letters(1 + below(30'000))));
      } else if (op < 47) {
        const std::uint64_t at = below(model.size() + 1'000);
        ASSERT_NO_FATAL_FAILURE(f.write(*filesystem, file, at, letters(1 + below(5'000))));
      } else if (op < 54) {
        ASSERT_NO_FATAL_FAILURE(f.truncate(*filesystem, file, below(model.size() + 2'000)));
      } else if (op < 74) {
        const std::uint64_t at = below(model.size() + 10);
        ASSERT_NO_FATAL_FAILURE(f.read(*filesystem, file, at, 1 + below(70'000)));
      } else if (op < 86) {
        ASSERT_TRUE(filesystem->commit_everything());
        ASSERT_EQ(extracted("f"), model);
      } else {
        filesystem->release(file, O_WRONLY);
        ASSERT_TRUE(filesystem->final_commit());
        filesystem.reset();
        filesystem = open();
        file = entry_of(*filesystem, kRootInode, "f");
        ASSERT_TRUE(filesystem->open(file, O_WRONLY));
      }
    }
    EXPECT_EQ(read_all(*filesystem, file, 50'000), model);
    filesystem->release(file, O_WRONLY);
    ASSERT_TRUE(filesystem->final_commit());
    EXPECT_EQ(extracted("f"), model);
    EXPECT_FALSE(a_changed_file_was_taken_for_appended());
  }
}

namespace {
std::string read_range(fs::filesystem& filesystem, fs::inode_number file, std::uint64_t at, std::size_t n) {
  std::vector<std::byte> out(n);
  const auto got = filesystem.read(file, out, static_cast<off_t>(at));
  if (!got) return "<error>";
  return std::string(reinterpret_cast<const char*>(out.data()), *got);
}
}  // namespace

// Appends to an archived file through a 1 MiB pool: it is re-staged into a
// spill file, grows with holes, is truncated and written before its end.
TEST_F(archive_changes, AppendsAndWritesToAnArchivedFileThroughATinyPool) {
  options.pool_bytes = 1u << 20;
  std::string expected = random_bytes(1'500'000, 7);
  {
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "f", expected);
    ASSERT_TRUE(filesystem->final_commit());
  }
  auto filesystem = open();
  const auto f = entry_of(*filesystem, kRootInode, "f");
  ASSERT_TRUE(filesystem->open(f, O_WRONLY));
  std::mt19937_64 next(3);
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE(round);
    const std::string more = random_bytes(700'000, 100 + round);
    ASSERT_TRUE(filesystem->write(f, bytes_of_text(more), static_cast<off_t>(expected.size() + 1000)));
    expected.resize(expected.size() + 1000, '\0');
    expected += more;
    ASSERT_EQ(read_all(*filesystem, f, 77'777), expected);
    if (round == 2) {
      fs::attribute_changes c;
      c.size = expected.size() - 300'000;
      ASSERT_TRUE(filesystem->setattr(f, c));
      expected.resize(*c.size);
    }
    if (round == 3) {
      ASSERT_TRUE(filesystem->write(f, bytes_of_text("XYZ"), 5));
      expected.replace(5, 3, "XYZ");
    }
    if (round % 2 == 1) {
      ASSERT_TRUE(filesystem->commit_everything());
      ASSERT_EQ(extracted("f"), expected);
    }
    ASSERT_EQ(read_all(*filesystem, f, 65'536), expected);
  }
  filesystem->release(f, O_WRONLY);
  ASSERT_TRUE(filesystem->final_commit());
  EXPECT_EQ(extracted("f"), expected);
  EXPECT_NE(log.text().find("outgrew"), std::string::npos) << "spilled";
}

// Archived files with streaming on: appended then truncated back to exactly
// the archived size, appended past a hole and closed, and one appended and
// removed while open, then committed and compacted, read on.
TEST_F(archive_changes, ArchivedFilesAppendedTruncatedAndRemovedWhileOpenWithStreaming) {
  std::string a = sample_log_lines("a", 300'000);
  std::string b = sample_log_lines("b", 300'000);
  {
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "a", a);
    make_file(*filesystem, kRootInode, "b", b);
    ASSERT_TRUE(filesystem->final_commit());
  }
  auto filesystem = open();
  filesystem->start_threads();
  const auto fa = entry_of(*filesystem, kRootInode, "a");
  const auto fb = entry_of(*filesystem, kRootInode, "b");
  // a: append, truncate back to exactly the archived size, close, commit.
  ASSERT_TRUE(filesystem->open(fa, O_WRONLY));
  ASSERT_TRUE(filesystem->write(fa, bytes_of_text("tail"), static_cast<off_t>(a.size())));
  fs::attribute_changes c;
  c.size = a.size();
  ASSERT_TRUE(filesystem->setattr(fa, c));
  ASSERT_EQ(read_all(*filesystem, fa, 50'000), a);
  filesystem->release(fa, O_WRONLY);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(filesystem->commit_everything());
  EXPECT_EQ(extracted("a"), a);
  ASSERT_EQ(read_all(*filesystem, fa, 50'000), a);
  // a: append with a hole, close, let the settle queue see it, commit.
  ASSERT_TRUE(filesystem->open(fa, O_WRONLY));
  ASSERT_TRUE(filesystem->write(fa, bytes_of_text("hole"), static_cast<off_t>(a.size() + 10)));
  a.resize(a.size() + 10, '\0');
  a += "hole";
  filesystem->release(fa, O_WRONLY);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  ASSERT_EQ(read_all(*filesystem, fa, 50'000), a);
  ASSERT_TRUE(filesystem->commit_everything());
  EXPECT_EQ(extracted("a"), a);
  ASSERT_EQ(read_all(*filesystem, fa, 50'000), a);
  // b: appended while open, then removed while open, committed, compacted.
  ASSERT_TRUE(filesystem->open(fb, O_RDWR));
  ASSERT_TRUE(filesystem->write(fb, bytes_of_text("more"), static_cast<off_t>(b.size())));
  b += "more";
  ASSERT_TRUE(filesystem->unlink(kRootInode, "b"));
  ASSERT_TRUE(filesystem->commit_everything());
  ASSERT_EQ(read_all(*filesystem, fb, 50'000), b);
  ASSERT_TRUE(filesystem->compact());
  ASSERT_EQ(read_all(*filesystem, fb, 50'000), b);
  ASSERT_TRUE(filesystem->write(fb, bytes_of_text("again"), static_cast<off_t>(b.size())));
  b += "again";
  ASSERT_EQ(read_all(*filesystem, fb, 50'000), b);
  ASSERT_TRUE(filesystem->write(fb, bytes_of_text("#"), 3));
  b[3] = '#';
  ASSERT_EQ(read_all(*filesystem, fb, 50'000), b);
  filesystem->release(fb, O_RDWR);
  ASSERT_TRUE(filesystem->final_commit());
  EXPECT_EQ(extracted("a"), a);
}

// After a remount a commit runs while an archived file that grew is appended
// to and written between its archived end and the frozen end, and read
// across its archived end.
TEST_F(archive_changes, WritesDuringACommitOfAnArchivedFileThatGrew) {
  options.pool_bytes = 64u << 20;
  options.write.compression.level = 5;
  std::string expected = sample_log_lines("archived", 1'000'000);
  {
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "f", expected);
    ASSERT_TRUE(filesystem->final_commit());
  }
  for (int variant = 0; variant < 2; ++variant) {
    SCOPED_TRACE(variant);
    auto filesystem = open();
    const auto f = entry_of(*filesystem, kRootInode, "f");
    ASSERT_TRUE(filesystem->open(f, O_WRONLY));
    const std::uint64_t prefix = expected.size();
    const std::string big = sample_log_lines("big", 3'000'000);
    ASSERT_TRUE(filesystem->write(f, bytes_of_text(big), static_cast<off_t>(prefix)));
    expected += big;
    auto fsync = commit_in_background(*filesystem);
    const bool began = committing(*filesystem);
    if (variant == 1) {
      ASSERT_TRUE(filesystem->write(f, bytes_of_text("!!"), static_cast<off_t>(prefix + 100)));
      expected[prefix + 100] = expected[prefix + 101] = '!';
    }
    const std::string during = sample_log_lines("during", 50'000);
    ASSERT_TRUE(filesystem->write(f, bytes_of_text(during), static_cast<off_t>(expected.size())));
    expected += during;
    ASSERT_EQ(read_range(*filesystem, f, prefix - 5000, 20000), expected.substr(prefix - 5000, 20000));
    const bool ended = committing(*filesystem);
    fsync.join();
    EXPECT_TRUE(began && ended);
    ASSERT_EQ(read_all(*filesystem, f, 65'536), expected);
    ASSERT_TRUE(filesystem->commit_everything());
    EXPECT_EQ(extracted("f"), expected);
    ASSERT_EQ(read_all(*filesystem, f, 65'536), expected);
    const std::string after = "after\n";
    ASSERT_TRUE(filesystem->write(f, bytes_of_text(after), static_cast<off_t>(expected.size())));
    expected += after;
    ASSERT_EQ(read_all(*filesystem, f, 65'536), expected);
    filesystem->release(f, O_WRONLY);
    ASSERT_TRUE(filesystem->final_commit());
    EXPECT_EQ(extracted("f"), expected);
    EXPECT_FALSE(a_changed_file_was_taken_for_appended());
  }
}

// The random test, with a pool small enough to spill, the file closed and
// reopened (commits drop its local bytes), streaming on, and commits running
// on another thread while it is written.
TEST_F(archive_changes, RandomChangesWithSpillsClosesStreamingAndConcurrentCommits) {
  options.pool_bytes = 1u << 20;
  for (const std::uint64_t seed : {11u, 12u}) {
    SCOPED_TRACE(seed);
    std::filesystem::remove(archive);
    random_source random(seed);
    const auto below = [&](std::uint64_t n) { return random.below(n); };
    const auto letters = [&](std::size_t size) { return random.letters(size); };
    modelled_file f;
    const std::string& model = f.model;
    auto filesystem = open();
    const bool threads = seed % 2 == 0;
    if (threads) filesystem->start_threads();
    auto file = filesystem->create(kRootInode, "f", 0644, O_WRONLY, me)->st_ino;
    // Another file keeps the pool busy so that "f" spills too.
    auto other = filesystem->create(kRootInode, "g", 0644, O_WRONLY, me)->st_ino;
    ASSERT_TRUE(filesystem->write(other, bytes_of_text(std::string(600'000, 'g')), 0));
    bool open_now = true;
    std::jthread committing;  // a commit on another thread; joined also when an assertion returns early
    for (int step = 0; step < 200; ++step) {
      SCOPED_TRACE(step);
      const auto op = below(100);
      if (op < 30) {
        if (!open_now) {
          ASSERT_TRUE(filesystem->open(file, O_WRONLY));
          open_now = true;
        }
        ASSERT_NO_FATAL_FAILURE(f.write(*filesystem, file, model.size(), letters(1 + below(400'000))));
      } else if (op < 40) {
        if (!open_now) {
          ASSERT_TRUE(filesystem->open(file, O_WRONLY));
          open_now = true;
        }
        const std::uint64_t at = below(model.size() + 1'000);
        ASSERT_NO_FATAL_FAILURE(f.write(*filesystem, file, at, letters(1 + below(5'000))));
      } else if (op < 46) {
        const auto how = below(3);
        const std::uint64_t size = how == 0   ? below(model.size() + 2'000)
                                   : how == 1 ? model.size()
                                              : model.size() + below(50'000);
        ASSERT_NO_FATAL_FAILURE(f.truncate(*filesystem, file, size));
      } else if (op < 66) {
        const std::uint64_t at = below(model.size() + 10);
        ASSERT_NO_FATAL_FAILURE(f.read(*filesystem, file, at, 1 + below(300'000)));
      } else if (op < 72) {
        if (committing.joinable()) committing.join();
        committing = std::jthread([&] { EXPECT_TRUE(filesystem->commit_everything()); });
      } else if (op < 78) {
        if (committing.joinable()) committing.join();
        ASSERT_TRUE(filesystem->commit_everything());
        ASSERT_EQ(extracted("f"), model);
      } else if (op < 88) {
        if (open_now) {
          filesystem->release(file, O_WRONLY);
          open_now = false;
        }
      } else if (op < 92) {
        if (committing.joinable()) committing.join();
        if (open_now) filesystem->release(file, O_WRONLY);
        filesystem->release(other, O_WRONLY);
        ASSERT_TRUE(filesystem->final_commit());
        filesystem.reset();
        filesystem = open();
        if (threads) filesystem->start_threads();
        file = entry_of(*filesystem, kRootInode, "f");
        ASSERT_EQ(read_all(*filesystem, file, 100'000), model);
        ASSERT_TRUE(filesystem->open(file, O_WRONLY));
        open_now = true;
        other = entry_of(*filesystem, kRootInode, "g");
        ASSERT_TRUE(filesystem->open(other, O_WRONLY));
      }
    }
    if (committing.joinable()) committing.join();
    EXPECT_EQ(read_all(*filesystem, file, 50'000), model);
    if (open_now) filesystem->release(file, O_WRONLY);
    ASSERT_TRUE(filesystem->final_commit());
    EXPECT_EQ(extracted("f"), model);
    EXPECT_NE(log.text().find("outgrew"), std::string::npos) << "the file spilled";
  }
}

// An archived file whose folder cannot be decoded here (7-Zip's PPMd): an
// append must be refused (EOPNOTSUPP: it needs the archived bytes), and nothing
// else may suffer: other files commit, the final commit succeeds, and the
// file keeps its archived copy.
TEST_F(archive_changes, AnAppendToAnUndecodableArchivedFileIsRefusedAndLosesNothing) {
  const std::string first = sample_log_lines("ppmd", 100'000);
  write_file(dir / "log.txt", first);
  ASSERT_EQ(run("cd " + quote(dir.path().string()) + " && 7zz a -m0=PPMd a.7z log.txt >/dev/null").exit_code, 0);
  std::filesystem::remove(dir / "log.txt");
  auto filesystem = open();
  const auto log_file = entry_of(*filesystem, kRootInode, "log.txt");
  ASSERT_NE(log_file, 0u);
  make_file(*filesystem, kRootInode, "other.txt", "precious");
  ASSERT_TRUE(filesystem->open(log_file, O_WRONLY | O_APPEND));
  const auto appended = filesystem->write(log_file, bytes_of_text("more\n"), static_cast<off_t>(first.size()));
  ASSERT_FALSE(appended);
  EXPECT_EQ(appended.error().code, EOPNOTSUPP) << appended.error().message;
  filesystem->release(log_file, O_WRONLY);
  ASSERT_TRUE(filesystem->commit_everything());
  EXPECT_EQ(extracted("other.txt"), "precious");
  ASSERT_TRUE(filesystem->final_commit());
  EXPECT_EQ(extracted("log.txt"), first);
  EXPECT_EQ(run("7zz t " + quote(archive.string()) + " >/dev/null").exit_code, 0);
}

// Files sharing a folder that cannot be decoded here (a solid PPMd folder of
// 7-Zip's) cannot be separated by a commit: removing, replacing or changing
// one is refused (EOPNOTSUPP, with the reason logged), as the commit would
// keep its archived copy anyway, under its name (a removed file back after a
// remount, a replaced one stored twice). Renaming works, and a file alone in
// such a folder goes with its folder.
TEST_F(archive_changes, AFileSharingAnUndecodableFolderIsNotRemovedReplacedOrChanged) {
  write_file(dir / "a.txt", sample_log_lines("a", 20'000));
  write_file(dir / "b.txt", sample_log_lines("b", 20'000));
  write_file(dir / "alone.txt", sample_log_lines("alone", 20'000));
  ASSERT_EQ(run("cd " + quote(dir.path().string()) +
                " && 7zz a -m0=PPMd -ms=on a.7z a.txt b.txt >/dev/null && 7zz a -m0=PPMd a.7z alone.txt >/dev/null")
                .exit_code,
            0);
  auto filesystem = open();
  const auto a = entry_of(*filesystem, kRootInode, "a.txt");
  ASSERT_NE(a, 0u);
  const auto refused = [](const fs::result<void>& done) {
    ASSERT_FALSE(done);
    EXPECT_EQ(done.error().code, EOPNOTSUPP);
    EXPECT_NE(done.error().message.find("PPMD folder with 1 other file"), std::string::npos) << done.error().message;
  };
  refused(filesystem->unlink(kRootInode, "a.txt"));
  make_file(*filesystem, kRootInode, "new.txt", "new");
  refused(filesystem->rename(kRootInode, "new.txt", kRootInode, "a.txt", 0));
  refused(filesystem->open(a, O_WRONLY | O_TRUNC));
  fs::attribute_changes empty;
  empty.size = 0;
  const auto truncated = filesystem->setattr(a, empty);
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code, EOPNOTSUPP);
  ASSERT_TRUE(filesystem->open(a, O_WRONLY));
  const auto written = filesystem->write(a, bytes_of_text("x"), 0);
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code, EOPNOTSUPP);
  filesystem->release(a, O_WRONLY);
  ASSERT_TRUE(filesystem->rename(kRootInode, "a.txt", kRootInode, "renamed.txt", 0));
  ASSERT_TRUE(filesystem->unlink(kRootInode, "alone.txt")) << "its folder goes with it";
  ASSERT_TRUE(filesystem->final_commit());
  EXPECT_EQ(listing(), "b.txt\nnew.txt\nrenamed.txt\n") << "each name once, none back";
  EXPECT_EQ(extracted("renamed.txt"), sample_log_lines("a", 20'000));
  EXPECT_EQ(extracted("b.txt"), sample_log_lines("b", 20'000));
  EXPECT_EQ(log.text().find("stay in the archive"), std::string::npos) << log.text();
  EXPECT_EQ(run("7zz t " + quote(archive.string()) + " >/dev/null").exit_code, 0);
}

// The first append to a file only the archive holds (a log after a remount)
// stages the new bytes only, and no commit decodes the archived start: the
// first goes on from the archived folder with a dictionary reset, the next
// ones are primed with the bytes appended since.
TEST_F(archive_changes, AnAppendToAFileOnlyTheArchiveHoldsStagesTheNewBytesOnly) {
  std::string expected = sample_log_lines("before", 3'000'000);
  {
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "service.log", expected);
    ASSERT_TRUE(filesystem->final_commit());
  }
  auto filesystem = open();
  const auto log_file = entry_of(*filesystem, kRootInode, "service.log");
  ASSERT_TRUE(filesystem->open(log_file, O_WRONLY | O_APPEND));
  const std::uint64_t misses = stat_of(*filesystem, "cache_misses_total");
  for (const std::string name : {"first", "second"}) {
    SCOPED_TRACE(name);
    const std::uint64_t archived = expected.size();
    const std::string more = sample_log_lines(name, 40'000);
    ASSERT_TRUE(filesystem->write(log_file, bytes_of_text(more), static_cast<off_t>(archived)));
    expected += more;
    EXPECT_LT(stat_of(*filesystem, "pool_bytes") - stat_of(*filesystem, "pool_free_bytes"), 1'000'000u)
        << "the archived start stays in the archive";
    ASSERT_TRUE(filesystem->commit_everything());
    EXPECT_EQ(stat_of(*filesystem, "last_commit_continued_bytes"), archived);
    EXPECT_EQ(stat_of(*filesystem, "cache_misses_total"), misses) << "nothing was decoded";
  }
  EXPECT_FALSE(a_changed_file_was_taken_for_appended());
  // Read through the mount: the archived start, then the appended bytes.
  EXPECT_EQ(read_all(*filesystem, log_file, expected.size() + 10), expected) << "in one read";
  filesystem->release(log_file, O_WRONLY);
  ASSERT_TRUE(filesystem->final_commit());
  EXPECT_EQ(extracted("service.log"), expected);
  EXPECT_EQ(run("7zz t " + quote(archive.string()) + " >/dev/null").exit_code, 0);
  EXPECT_EQ(run("bsdtar -xOf " + quote(archive.string()) + " service.log").output, expected);
}

// An LZMA2 folder whose chunk headers are whole but whose data is damaged:
// the append is taken without decoding it, and the commit (of this file
// and the others) decodes nothing either, so nothing is lost that was not
// lost already; a write into the damaged start fails alone.
TEST_F(archive_changes, AnAppendToADamagedArchivedFileLosesNothingElse) {
  const std::string first = sample_log_lines("damaged", 2'000'000);
  {
    auto filesystem = open();
    make_file(*filesystem, kRootInode, "log.txt", first);
    ASSERT_TRUE(filesystem->final_commit());
  }
  flip_byte(archive, 32 + 300);  // inside the first chunk's data (its header is 6 bytes at 32)
  ASSERT_NE(run("7zz t " + quote(archive.string()) + " >/dev/null 2>&1").exit_code, 0) << "damaged";
  auto filesystem = open();
  const auto log_file = entry_of(*filesystem, kRootInode, "log.txt");
  ASSERT_TRUE(filesystem->open(log_file, O_WRONLY | O_APPEND));
  ASSERT_TRUE(filesystem->write(log_file, bytes_of_text("appended\n"), static_cast<off_t>(first.size())));
  make_file(*filesystem, kRootInode, "other.txt", "precious");
  ASSERT_TRUE(filesystem->commit_everything());
  EXPECT_EQ(stat_of(*filesystem, "last_commit_continued_bytes"), first.size());
  EXPECT_EQ(extracted("other.txt"), "precious");
  const auto rewritten = filesystem->write(log_file, bytes_of_text("#"), 10);
  EXPECT_FALSE(rewritten) << "the start cannot be read back to be changed";
  ASSERT_TRUE(filesystem->write(log_file, bytes_of_text("more\n"), static_cast<off_t>(first.size() + 9)));
  filesystem->release(log_file, O_WRONLY);
  ASSERT_TRUE(filesystem->final_commit());
  EXPECT_EQ(extracted("other.txt"), "precious");
  // The damage is where it was, and the file holds the appended bytes too.
  const std::string listed = run("7zz l -slt " + quote(archive.string()) + " log.txt | grep '^Size = '").output;
  EXPECT_EQ(listed, fmt::format("Size = {}\n", first.size() + 14));
}

// A log kept open across commits keeps, of its committed bytes, only the
// dictionary the next commit primes its encoder with: its memory stays
// bounded however long it grows, and no commit decodes anything.
TEST_F(archive_changes, ALogKeptOpenKeepsOnlyThePrimerOfItsCommittedBytes) {
  options.pool_bytes = 64u << 20;  // room for all of it: only trimming keeps it small
  auto filesystem = open();
  const auto log_file = filesystem->create(kRootInode, "service.log", 0644, O_WRONLY | O_APPEND, me)->st_ino;
  std::string expected;
  std::uint64_t misses = 0;
  ino_t archive_inode = 0;
  for (int k = 0; k < 20; ++k) {
    SCOPED_TRACE(k);
    const std::uint64_t archived = expected.size();
    const std::string more = sample_log_lines(fmt::format("piece {}", k), 300'000);
    ASSERT_TRUE(filesystem->write(log_file, bytes_of_text(more), static_cast<off_t>(archived)));
    expected += more;
    ASSERT_TRUE(filesystem->commit_everything());
    struct stat archive_stat {};
    ASSERT_EQ(::stat(archive.c_str(), &archive_stat), 0);
    if (k == 0) {
      misses = stat_of(*filesystem, "cache_misses_total");
      archive_inode = archive_stat.st_ino;
      continue;
    }
    EXPECT_EQ(stat_of(*filesystem, "last_commit_continued_bytes"), archived);
    // The log's folder is the archive's last: it grows where it lies.
    EXPECT_EQ(archive_stat.st_ino, archive_inode) << "the archive was written anew";
    EXPECT_EQ(stat_of(*filesystem, "dead_bytes"), 0u);
    EXPECT_LT(stat_of(*filesystem, "pool_bytes") - stat_of(*filesystem, "pool_free_bytes"), 1'500'000u);
  }
  EXPECT_EQ(stat_of(*filesystem, "cache_misses_total"), misses) << "no commit decoded anything";
  EXPECT_FALSE(a_changed_file_was_taken_for_appended());
  // The whole log reads back: its start from the archive, its end from memory.
  EXPECT_EQ(read_all(*filesystem, log_file, expected.size() + 10), expected) << "in one read";
  // A write into the trimmed start brings the file back whole.
  ASSERT_TRUE(filesystem->write(log_file, bytes_of_text("#"), 10));
  expected[10] = '#';
  filesystem->release(log_file, O_WRONLY);
  ASSERT_TRUE(filesystem->final_commit());
  EXPECT_EQ(extracted("service.log"), expected);
  EXPECT_EQ(run("7zz t " + quote(archive.string()) + " >/dev/null").exit_code, 0);
}

// Writes during a commit of a log whose archived start is damaged, each
// needing that start: one below the end the commit froze but past the
// archived start (no append to the copy the next commit goes on from), one
// into the start itself. Each is refused alone, at once (the file is
// re-staged whole first), and changes nothing; no commit ever decodes the
// start, which would fail it for every file.
TEST_F(archive_changes, WritesDuringACommitThatNeedADamagedStartFailAlone) {
  options.pool_bytes = 64u << 20;
  options.write.compression.level = 5;
  const std::string first = sample_log_lines("damaged", 2'000'000);
  const std::string big = sample_log_lines("big", 3'000'000);
  const std::uint64_t prefix = first.size();
  for (const std::uint64_t offset : {prefix + 100, std::uint64_t{10}}) {
    SCOPED_TRACE(offset);
    std::filesystem::remove(archive);
    {
      auto filesystem = open();
      make_file(*filesystem, kRootInode, "f", first);
      ASSERT_TRUE(filesystem->final_commit());
    }
    flip_byte(archive, 32 + 300);
    auto filesystem = open();
    const auto f = entry_of(*filesystem, kRootInode, "f");
    ASSERT_TRUE(filesystem->open(f, O_WRONLY));
    ASSERT_TRUE(filesystem->write(f, bytes_of_text(big), static_cast<off_t>(prefix)));
    {
      auto fsync = commit_in_background(*filesystem);
      const bool began = committing(*filesystem);
      EXPECT_FALSE(filesystem->write(f, bytes_of_text("!!"), static_cast<off_t>(offset)))
          << "it needs the start, which cannot be read back";
      const bool ended = committing(*filesystem);
      fsync.join();
      ASSERT_TRUE(began && ended) << "the write must happen while the commit runs";
    }
    make_file(*filesystem, kRootInode, "other.txt", "precious");
    EXPECT_TRUE(filesystem->commit_everything()) << log.text();
    EXPECT_EQ(extracted("other.txt"), "precious");
    filesystem->release(f, O_WRONLY);
    ASSERT_TRUE(filesystem->final_commit()) << log.text();
    EXPECT_EQ(run("7zz l -slt " + quote(archive.string()) + " f | grep '^Size = '").output,
              fmt::format("Size = {}\n", first.size() + big.size()))
        << "the appended bytes are archived after the damaged start";
  }
}
