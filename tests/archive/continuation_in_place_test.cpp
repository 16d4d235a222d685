// A log whose folder is the archive's last grows where it lies: the commit
// writes the new chunks over the old end marker and then a new header, in
// the same file, and the archived packed bytes stay as they were; new files
// of the same commit follow it. A crash at any step leaves the old log or
// the new one: the header that stands in meanwhile describes the folder
// without its end marker, which 7zz, bsdtar and py7zr read, and which the
// next commit continues in place in turn. A snapshot taken before reads the
// old log still. A commit that fails before its commit point puts the
// marker back; one that fails past it stops commits until the next mount.
// A log whose folder is not the last is continued by writing the archive
// anew.
#include "archive/archive_appender.hpp"
#include "archive/archive_error.hpp"
#include "archive/archive_snapshot.hpp"
#include "archive/cached_reader.hpp"

#include "archive/archive_checks.hpp"
#include "archive/archive_model.hpp"
#include "archive/grown_log.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>

#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace sevenzfs::archive;
using namespace sevenzfs::test;

namespace {

ino_t inode_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return st.st_ino;
}

// The pack stream of the archive's only or last folder.
pack_stream_range last_pack(const archive_appender& appender) {
  const auto& snapshot = *appender.snapshot();
  return snapshot.folder(snapshot.folder_count() - 1).packs.back();
}

std::string bytes_of(const fs::path& path, std::uint64_t offset, std::uint64_t size) {
  return read_file(path).substr(offset, size);
}

}  // namespace

TEST(ContinuationInPlace, TheLastFolderGrowsWhereItLies) {
  for (const unsigned threads : {1u, 2u}) {
    SCOPED_TRACE(threads);
    std::string text = sample_text("before", 400'000);
    grown_log log(options_with(5, threads), text);
    const ino_t inode = inode_of(log.path);
    for (int round = 0; round < 3; ++round) {
      SCOPED_TRACE(round);
      const pack_stream_range before = last_pack(*log.appender);
      const std::string archived = bytes_of(log.path, before.offset, before.size - 1);
      const std::uint64_t archived_bytes = text.size();
      text += sample_text("added" + std::to_string(round), 150'000);
      const commit_result grown = log.grow(text);
      EXPECT_FALSE(grown.rewritten);
      EXPECT_EQ(grown.continued_bytes, archived_bytes);
      EXPECT_EQ(inode_of(log.path), inode) << "the same file, not a copy";
      const pack_stream_range after = last_pack(*log.appender);
      EXPECT_EQ(after.offset, before.offset);
      EXPECT_GT(after.size, before.size);
      EXPECT_TRUE(bytes_of(log.path, before.offset, before.size - 1) == archived) << "the archived bytes moved";
      EXPECT_EQ(log.appender->dead_bytes(), 0u) << "the file holds the packs and the header, nothing else";
      expect_readers_agree(log.path, {{{"log.txt", text}}, {}});
      log.first = grown;
    }
  }
}

// New files of the same commit go after the continued folder; the log is
// then no longer the last folder, and its next commit writes the archive
// anew (continuing its folder by a copy of its packed bytes).
TEST(ContinuationInPlace, NewFilesFollowTheLogWhichIsThenContinuedByACopy) {
  const std::string before = sample_text("before", 300'000);
  const std::string added = sample_text("added", 100'000);
  grown_log log(options_with(5, 2), before);
  commit_request request;
  request.new_files.push_back(text_entry("log.txt", before + added));
  request.new_files.push_back(text_entry("other.txt", sample_text("other", 50'000)));
  request.appended_files.push_back({0, log.first.stream_index.at(0)});
  const commit_result grown = log.appender->commit(request);
  EXPECT_FALSE(grown.rewritten);
  EXPECT_EQ(grown.continued_bytes, before.size());
  SCOPED_TRACE("in place");
  expect_readers_agree(log.path, {{{"log.txt", before + added}, {"other.txt", sample_text("other", 50'000)}}, {}});

  const std::string more = sample_text("more", 80'000);
  commit_request next;
  next.new_files.push_back(text_entry("log.txt", before + added + more));
  next.kept_streams.push_back({grown.stream_index.at(1), nullptr});
  next.appended_files.push_back({0, grown.stream_index.at(0)});
  const commit_result again = log.appender->commit(next);
  EXPECT_TRUE(again.rewritten);
  EXPECT_EQ(again.continued_bytes, before.size() + added.size());
  expect_readers_agree(log.path,
                       {{{"log.txt", before + added + more}, {"other.txt", sample_text("other", 50'000)}}, {}});
}

TEST(ContinuationInPlace, ACrashAtAnyStepLeavesTheOldOrTheNewLog) {
  const std::string before = sample_text("before", 300'000);
  const std::string added = sample_text("added", 100'000);
  const std::string more = sample_text("more", 60'000);
  for (int step = 1; step <= 3; ++step) {
    SCOPED_TRACE(step);
    grown_log log(options_with(5, 2), before);
    const ino_t inode = inode_of(log.path);
    const std::uint64_t packed = log.pack_size_of_stream(0);
    crash_during("SEVENZFS_TEST_EXIT_AFTER_APPEND_STEP", step, [&] { log.grow(before + added); });
    // Steps 1-2: the old log, its folder without the end marker; step 3: the
    // new log (the start header points at the new header; 7-Zip warns about
    // the copy after it until the file is tidied, as the next mount does).
    const auto tested = run("7zz t " + quote(log.path.string()));
    EXPECT_EQ(tested.exit_code, 0) << tested.output;
    log.appender = std::make_unique<archive_appender>(log.path.string(), options_with(5, 2));
    log.appender->tidy();
    if (step < 3) {
      EXPECT_EQ(log.pack_size_of_stream(0), packed - 1) << "the folder without its end marker";
    }
    const std::string now = step == 3 ? before + added : before;
    expect_readers_agree(log.path, {{{"log.txt", now}}, {}});
    // It goes on from there, in place.
    log.first.stream_index = {0};
    const commit_result grown = log.grow(now + more);
    EXPECT_FALSE(grown.rewritten);
    EXPECT_EQ(grown.continued_bytes, now.size());
    EXPECT_EQ(inode_of(log.path), inode);
    EXPECT_EQ(log.appender->dead_bytes(), 0u);
    expect_readers_agree(log.path, {{{"log.txt", now + more}}, {}});
  }
}

// The end marker an earlier snapshot's folder ends with is written over:
// its reader stops at the end of the file's bytes and never needs it.
TEST(ContinuationInPlace, ASnapshotTakenBeforeReadsTheOldLog) {
  const std::string before = sample_text("before", 300'000);
  grown_log log(options_with(5, 1), before);
  const auto held = log.appender->snapshot();
  const commit_result grown = log.grow(before + sample_text("added", 100'000));
  ASSERT_FALSE(grown.rewritten);
  EXPECT_TRUE(read_stream(*held, 0) == before);
}

// A held snapshot whose end marker was written over still starts a read far
// into its folder at the last dictionary reset before it: the chunk walk
// that finds the resets ends one byte short, where the marker was.
TEST(ContinuationInPlace, ASnapshotTakenBeforeKeepsItsSeekPoints) {
  const std::string before = sample_text("before", 300'000);
  const std::string added = sample_text("added", 200'000);
  auto options = options_with(5, 1);
  options.compression.continuation_reset_bytes = 200'000;  // the first growth resets at 300,000
  grown_log log(options, before);
  ASSERT_FALSE(log.grow(before + added).rewritten);
  const auto held = log.appender->snapshot();
  ASSERT_FALSE(log.grow(before + added + sample_text("more", 100'000)).rewritten);

  cached_reader reader({.cache_bytes = 4 << 20, .block_size = 64 << 10, .decoders = {}});
  const std::string held_text = before + added;
  std::vector<std::uint8_t> tail(30);
  ASSERT_EQ(reader.read(*held, 0, held_text.size() - tail.size(), tail), tail.size());
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), held_text.end() - 30));
  EXPECT_EQ(reader.stats().chunk_walks, 1u);
  EXPECT_LE(reader.stats().bytes_decoded, added.size()) << "decoded from the reset at " << before.size();
}

namespace {

// Sets a test hook for its lifetime.
struct hook {
  hook(const char* name, const char* value) : variable(name) { ::setenv(name, value, 1); }
  ~hook() { ::unsetenv(variable); }
  hook(const hook&) = delete;
  hook& operator=(const hook&) = delete;
  const char* variable;
};

}  // namespace

// A commit that fails after it wrote over the end marker, before its commit
// point (a full disk while the new chunks are copied): the marker is put
// back, so that a later commit that keeps the log as archived, in place or
// by a compaction, writes a header every reader agrees with.
TEST(ContinuationInPlace, AFailureBeforeTheCommitPointPutsTheMarkerBack) {
  for (const bool compact : {false, true}) {
    SCOPED_TRACE(compact);
    const std::string before = sample_text("before", 300'000);
    grown_log log(options_with(5, 2), before);
    {
      const hook failing("SEVENZFS_TEST_FAIL_AFTER_APPEND_STEP", "2");
      EXPECT_THROW(log.grow(before + sample_text("added", 100'000)), archive_error);
    }
    const auto tested = run("7zz t " + quote(log.path.string()));
    EXPECT_EQ(tested.exit_code, 0) << tested.output;
    commit_request next;
    next.kept_streams.push_back({log.first.stream_index.at(0), nullptr});
    next.new_files.push_back(text_entry("other.txt", sample_text("other", 50'000)));
    next.compact = compact;
    log.appender->commit(next);
    expect_readers_agree(log.path, {{{"log.txt", before}, {"other.txt", sample_text("other", 50'000)}}, {}});
  }
}

// Past the commit point (the new header is pointed at, then its sync or the
// cut fails), the archive holds the new log while the snapshot callers
// number streams by is the old one: commits stop until the next mount,
// which reads the new log.
TEST(ContinuationInPlace, AFailurePastTheCommitPointStopsCommitsUntilTheNextMount) {
  const std::string before = sample_text("before", 300'000);
  const std::string added = sample_text("added", 100'000);
  grown_log log(options_with(5, 2), before);
  {
    const hook failing("SEVENZFS_TEST_FAIL_AFTER_APPEND_STEP", "3");
    EXPECT_THROW(log.grow(before + added), archive_error);
  }
  EXPECT_THROW(log.grow(before + added + "more"), archive_error) << "a commit from the old snapshot";
  archive_appender reopened(log.path.string(), options_with(5, 2));
  reopened.tidy();
  expect_readers_agree(log.path, {{{"log.txt", before + added}}, {}});
}
