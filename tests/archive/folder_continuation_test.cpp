// A file that grew by appends since its commit goes on from its archived
// folder: the packed prefix is copied and only the new bytes are compressed,
// with one and with several threads, with a primer shorter than the prefix;
// the result is judged by 7zz, bsdtar and py7zr. When the prefix differs, or
// the archived folder cannot be continued (shared with another file, stored),
// the file is compressed whole and still reads back.
#include "archive/archive_appender.hpp"
#include "archive/archive_error.hpp"
#include "archive/archive_snapshot.hpp"
#include "archive/folder_continuation.hpp"

#include "archive/archive_checks.hpp"
#include "archive/archive_model.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <random>

namespace fs = std::filesystem;
using namespace sevenzfs::archive;
using namespace sevenzfs::test;

namespace {

write_options options_with(int level, unsigned threads, pack_mode mode = pack_mode::batched) {
  write_options options;
  options.plan.mode = mode;
  options.compression.level = level;
  options.compression.threads = threads;
  options.compression.max_part_bytes = 40'000;  // several parts for the appended bytes
  return options;
}

std::string random_bytes(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 next(seed);
  std::string bytes(size, '\0');
  for (auto& c : bytes) c = static_cast<char>(next());
  return bytes;
}

// The archive's only file, `log.txt`, grows from `before` to `before + added`
// in a second commit that names it an appended file.
struct grown_log {
  temp_dir dir;
  fs::path path = dir / "a.7z";
  std::unique_ptr<archive_appender> appender;
  commit_result first;

  grown_log(const write_options& options, const std::string& before) {
    appender = std::make_unique<archive_appender>(path.string(), options);
    commit_request request;
    request.new_files.push_back(text_entry("log.txt", before));
    first = appender->commit(request);
  }

  commit_result grow(const std::string& now, std::vector<kept_stream> kept = {}) {
    commit_request request;
    request.kept_streams = std::move(kept);
    request.new_files.push_back(text_entry("log.txt", now));
    request.appended_files.push_back({0, first.stream_index.at(0)});
    return appender->commit(request);
  }

  std::uint64_t pack_size_of_stream(std::uint64_t stream) const {
    const auto& snapshot = *appender->snapshot();
    return snapshot.folder(snapshot.substream(stream).folder).packs.front().size;
  }
};

}  // namespace

TEST(FolderContinuation, AGrownFileContinuesItsFolderWithOneOrTwoThreads) {
  for (const unsigned threads : {1u, 2u}) {
    SCOPED_TRACE(threads);
    // Level 1: a 256 KiB dictionary, so the primer is the prefix's tail only.
    const std::string before = sample_text("before", 400'000);
    const std::string added = sample_text("added", 150'000);
    grown_log log(options_with(1, threads), before);
    const commit_result grown = log.grow(before + added);
    EXPECT_EQ(grown.continued_bytes, before.size());
    EXPECT_EQ(grown.input_bytes, before.size() + added.size());
    expect_readers_agree(log.path, {{{"log.txt", before + added}}, {}});
    // And it goes on again from the continued folder.
    log.first = grown;
    const std::string more = sample_text("more", 90'000);
    EXPECT_EQ(log.grow(before + added + more).continued_bytes, before.size() + added.size());
    expect_readers_agree(log.path, {{{"log.txt", before + added + more}}, {}});
  }
}

// Appended bytes that repeat the prefix cost almost nothing: the continued
// encoder's matches reach back into the archived bytes (an unprimed one would
// pack the copy as large as the prefix).
TEST(FolderContinuation, TheAppendedBytesMatchIntoTheArchivedOnes) {
  for (const unsigned threads : {1u, 2u}) {
    SCOPED_TRACE(threads);
    const std::string before = sample_text("before", 300'000);
    grown_log log(options_with(5, threads), before);
    const std::uint64_t packed_before = log.pack_size_of_stream(0);
    const commit_result grown = log.grow(before + before);
    ASSERT_EQ(grown.continued_bytes, before.size());
    EXPECT_LT(log.pack_size_of_stream(grown.stream_index.at(0)), packed_before + packed_before / 10);
    expect_readers_agree(log.path, {{{"log.txt", before + before}}, {}});
  }
}

TEST(FolderContinuation, AFileWhoseStartChangedIsCompressedWhole) {
  std::string before = sample_text("before", 100'000);
  grown_log log(options_with(1, 2), before);
  before[10] = '#';  // the caller was wrong: the archived bytes are not a prefix
  const std::string now = before + sample_text("added", 50'000);
  const commit_result grown = log.grow(now);
  EXPECT_EQ(grown.continued_bytes, 0u);
  expect_readers_agree(log.path, {{{"log.txt", now}}, {}});
}

TEST(FolderContinuation, FoldersThatCannotBeContinuedAreNot) {
  {
    SCOPED_TRACE("a solid folder shared with another file");
    temp_dir dir;
    const fs::path path = dir / "a.7z";
    archive_appender appender(path.string(), options_with(1, 2, pack_mode::solid));
    const std::string log_text = sample_text("log", 60'000);
    const std::string other = sample_text("other", 60'000);
    commit_request first;
    first.new_files = {text_entry("log.txt", log_text), text_entry("other.txt", other)};
    const commit_result committed = appender.commit(first);
    ASSERT_FALSE(continuation_of(*appender.snapshot(), committed.stream_index[0]));

    commit_request grow;
    grow.kept_streams.push_back({committed.stream_index[1], {}});
    grow.new_files.push_back(text_entry("log.txt", log_text + "more"));
    grow.appended_files.push_back({0, committed.stream_index[0]});
    EXPECT_EQ(appender.commit(grow).continued_bytes, 0u);
    expect_readers_agree(path, {{{"log.txt", log_text + "more"}, {"other.txt", other}}, {}});
  }
  {
    SCOPED_TRACE("a stored folder");
    const std::string noise = random_bytes(50'000, 3);
    grown_log log(options_with(1, 1), noise);
    ASSERT_FALSE(continuation_of(*log.appender->snapshot(), 0));
    EXPECT_EQ(log.grow(noise + "more").continued_bytes, 0u);
    expect_readers_agree(log.path, {{{"log.txt", noise + "more"}}, {}});
  }
}

TEST(FolderContinuation, AnAppendedFileMustBeADistinctNewFileOfAnArchivedStream) {
  grown_log log(options_with(1, 1), "archived");
  commit_request request;
  request.new_files.push_back(text_entry("log.txt", "archived and more"));
  request.appended_files = {{0, 0}, {0, 0}};
  EXPECT_THROW(log.appender->commit(request), archive_error);
  request.appended_files = {{1, 0}};
  EXPECT_THROW(log.appender->commit(request), archive_error);
  request.appended_files = {{0, 5}};
  EXPECT_THROW(log.appender->commit(request), archive_error);
}

TEST(FolderContinuation, DictionarySizesOfPropertyBytes) {
  EXPECT_EQ(lzma2_dictionary_of(0), 4096u);
  EXPECT_EQ(lzma2_dictionary_of(1), 6144u);
  EXPECT_EQ(lzma2_dictionary_of(24), 16u << 20);
  EXPECT_EQ(lzma2_dictionary_of(40), UINT32_MAX);
  EXPECT_FALSE(lzma2_dictionary_of(41));
}
