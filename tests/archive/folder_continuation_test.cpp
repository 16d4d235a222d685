// A file that grew by appends since its commit goes on from its archived
// folder: the packed prefix is copied and only the new bytes are compressed,
// with one and with several threads, with a primer shorter than the prefix,
// also from a folder 7-Zip's multithreaded encoder wrote (dictionary resets
// inside the stream) and from one that names a larger dictionary than the
// level's; the result is judged by 7zz, bsdtar and py7zr. When the prefix
// differs, or the archived folder cannot be continued (shared with another
// file, stored), the file is compressed whole, in a folder of its own, and
// still reads back. A start
// the caller vouches for is not read: the continuation is primed with its
// cheap end, or resets the dictionary.
#include "archive/archive_appender.hpp"
#include "archive/archive_error.hpp"
#include "archive/archive_snapshot.hpp"
#include "archive/file_io.hpp"
#include "archive/folder_continuation.hpp"
#include "archive/folder_packer.hpp"
#include "archive/header_serializer.hpp"
#include "archive/output_file.hpp"

#include "archive/archive_checks.hpp"
#include "archive/archive_model.hpp"
#include "archive/grown_log.hpp"
#include "test_support.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>

#include <fcntl.h>

#include <random>

namespace fs = std::filesystem;
using namespace sevenzfs::archive;
using namespace sevenzfs::test;

namespace {

std::string random_bytes(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 next(seed);
  std::string bytes(size, '\0');
  for (auto& c : bytes) c = static_cast<char>(next());
  return bytes;
}

// A file whose first `archived` bytes its owner vouches for as the archived
// stream's: they are never read, and only those from `cheap_from` on may be.
class vouched_content final : public entry_content {
 public:
  vouched_content(std::string bytes, std::uint64_t archived, std::uint64_t cheap_from)
      : bytes_(std::move(bytes)), start_{archived, cheap_from} {}
  void visit(const span_sink&) const override {
    ADD_FAILURE() << "the whole content was read";
    throw archive_error(error_kind::io, "vouched", "the start cannot be read");
  }
  void visit_range(std::uint64_t offset, std::uint64_t size, const span_sink& sink) const override {
    EXPECT_GE(offset, start_.cheap_from) << "a byte before the cheap ones was read";
    lowest_read_ = std::min(lowest_read_, offset);
    const std::string_view all(bytes_);
    const auto part = all.substr(offset, size);
    sink(std::span(reinterpret_cast<const std::uint8_t*>(part.data()), part.size()));
  }
  std::optional<archived_start> starts_archived() const override { return start_; }
  // The first byte the primer read (the packer reads on one thread).
  std::uint64_t lowest_read() const { return lowest_read_; }

 private:
  std::string bytes_;
  archived_start start_;
  mutable std::uint64_t lowest_read_ = UINT64_MAX;
};

entry vouched_entry(const std::string& bytes, std::uint64_t archived, std::uint64_t cheap_from) {
  entry e = text_entry("log.txt", "");
  e.size = bytes.size();
  e.content = std::make_shared<vouched_content>(bytes, archived, cheap_from);
  return e;
}

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
    EXPECT_EQ(grown.mismatched_prefixes, 0u);
    EXPECT_EQ(grown.input_bytes, before.size() + added.size());
    expect_readers_agree(log.path, {{{"log.txt", before + added}}, {}});
    // And it goes on again from the continued folder.
    log.first = grown;
    const std::string more = sample_text("more", 90'000);
    EXPECT_EQ(log.grow(before + added + more).continued_bytes, before.size() + added.size());
    expect_readers_agree(log.path, {{{"log.txt", before + added + more}}, {}});
  }
}

// Progress counts the bytes compressed: the appended ones, not the archived
// prefix, which is copied (the daemon's pending figure leaves it out, and
// progress read 99.9 % through a log's whole commit).
TEST(FolderContinuation, ProgressCountsTheAppendedBytesOnly) {
  for (const unsigned threads : {1u, 2u}) {
    SCOPED_TRACE(threads);
    std::atomic<std::uint64_t> done{0};
    auto options = options_with(1, threads);
    options.compression.progress = [&](std::uint64_t bytes) { done += bytes; };
    const std::string before = sample_text("before", 200'000);
    const std::string added = sample_text("added", 10'000);
    grown_log log(options, before);
    done = 0;
    const commit_result grown = log.grow(before + added);
    EXPECT_EQ(grown.continued_bytes, before.size());
    EXPECT_EQ(done.load(), added.size());
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

// Once the archived stream has gone continuation_reset_bytes without a
// dictionary reset, the continuation resets instead of priming (a seek
// point for readers: cached_reader starts there); below that it is primed.
TEST(FolderContinuation, PastTheResetIntervalTheContinuationResetsTheDictionary) {
  EXPECT_EQ(continuation_reset_bytes_for(1), 64u << 20);
  EXPECT_EQ(continuation_reset_bytes_for(5), 64u << 20);
  EXPECT_EQ(continuation_reset_bytes_for(9), 256u << 20);
  const std::string before = sample_text("before", 300'000);
  const std::string added = sample_text("added", 200'000);
  for (const unsigned threads : {1u, 2u}) {
    for (const std::uint64_t interval : {200'000u, 1'000'000u}) {
      SCOPED_TRACE(fmt::format("{} threads, reset every {} bytes", threads, interval));
      auto options = options_with(5, threads);
      options.compression.continuation_reset_bytes = interval;
      grown_log log(options, before);
      const commit_result grown = log.grow(before + added);
      ASSERT_EQ(grown.continued_bytes, before.size());
      const auto from = continuation_of(*log.appender->snapshot(), grown.stream_index.at(0));
      ASSERT_TRUE(from);
      EXPECT_EQ(from->last_dictionary_reset, interval <= before.size() ? before.size() : 0u);
      expect_readers_agree(log.path, {{{"log.txt", before + added}}, {}});
    }
  }
}

// A start the owner vouches for is not read: the continuation begins with a
// dictionary reset when none of it is cheap to read, and is primed with the
// cheap part otherwise; incompressible appended bytes are still continued,
// never stored (the folder's packed bytes go on from an LZMA2 stream).
TEST(FolderContinuation, AVouchedStartIsNotReadAndPrimesWithItsCheapPartOnly) {
  for (const unsigned threads : {1u, 2u}) {
    SCOPED_TRACE(threads);
    const std::string before = sample_text("before", 300'000);
    grown_log log(options_with(5, threads), before);
    const std::uint64_t packed_before = log.pack_size_of_stream(0);

    // Nothing cheap: no primer. Noise in one part, which alone would be stored.
    const std::string noise = random_bytes(30'000, 3);
    commit_result grown = log.grow(vouched_entry(before + noise, before.size(), before.size()));
    ASSERT_EQ(grown.continued_bytes, before.size());
    EXPECT_EQ(grown.mismatched_prefixes, 0u);
    EXPECT_GT(log.pack_size_of_stream(grown.stream_index.at(0)), packed_before + noise.size());
    expect_readers_agree(log.path, {{{"log.txt", before + noise}}, {}});

    // The last 20,000 bytes cheap (after the reset, as a decoder holds
    // nothing from before it): appending them again costs almost nothing.
    log.first = grown;
    const std::string now = before + noise;
    const std::string repeated = now.substr(now.size() - 20'000);
    const std::uint64_t packed_now = log.pack_size_of_stream(grown.stream_index.at(0));
    grown = log.grow(vouched_entry(now + repeated, now.size(), now.size() - repeated.size()));
    ASSERT_EQ(grown.continued_bytes, now.size());
    EXPECT_LT(log.pack_size_of_stream(grown.stream_index.at(0)), packed_now + 2'000);
    expect_readers_agree(log.path, {{{"log.txt", now + repeated}}, {}});
  }
}

// A small append is primed with twice its size (at least 1 MiB), not with
// the level's whole dictionary (16 MiB at level 5): the primer's pass costs
// what compressing it would. A large one is primed with the dictionary.
TEST(FolderContinuation, ThePrimerIsTwiceTheAppendedBytesAndAtLeastOneMebibyte) {
  const std::string before = sample_text("before", 6'000'000);
  for (const std::size_t added : {std::size_t{100'000}, std::size_t{800'000}, std::size_t{2'500'000}}) {
    SCOPED_TRACE(added);
    grown_log log(options_with(5, 1), before);
    const std::string now = before + sample_text("added", added);
    entry grown = vouched_entry(now, before.size(), 0);
    const auto content = std::dynamic_pointer_cast<const vouched_content>(grown.content);
    ASSERT_TRUE(content);
    ASSERT_EQ(log.grow(std::move(grown)).continued_bytes, before.size());
    const std::uint64_t primer = std::max<std::uint64_t>(2 * added, 1 << 20);
    EXPECT_EQ(content->lowest_read(), before.size() - primer);
    expect_readers_agree(log.path, {{{"log.txt", now}}, {}}, false);
  }
}

TEST(FolderContinuation, AFileWhoseStartChangedIsCompressedWhole) {
  std::string before = sample_text("before", 100'000);
  grown_log log(options_with(1, 2), before);
  before[10] = '#';  // the caller was wrong: the archived bytes are not a prefix
  const std::string now = before + sample_text("added", 50'000);
  const commit_result grown = log.grow(now);
  EXPECT_EQ(grown.continued_bytes, 0u);
  EXPECT_EQ(grown.mismatched_prefixes, 1u) << "the caller's mistake is told";
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
    grow.new_files.push_back(text_entry("new.txt", other));  // would share a solid folder with it
    grow.appended_files.push_back({0, committed.stream_index[0]});
    const commit_result grown = appender.commit(grow);
    EXPECT_EQ(grown.continued_bytes, 0u);
    EXPECT_EQ(grown.mismatched_prefixes, 0u);
    expect_readers_agree(path, {{{"log.txt", log_text + "more"}, {"new.txt", other}, {"other.txt", other}}, {}});
    // A file that grows by appends gets a folder of its own, solid or not,
    // so that the next commit can continue it.
    EXPECT_TRUE(continuation_of(*appender.snapshot(), grown.stream_index[0]));
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

// 7-Zip's multithreaded LZMA2 encoder resets the dictionary at every block
// (-mmt, c=1m here): a decoder holds nothing from before the last reset, so
// the continued encoder must not be primed with it (7zz t: Data Error).
TEST(FolderContinuation, AFolderOf7ZipsMultithreadedEncoderGoesOnFromItsLastReset) {
  for (const unsigned threads : {1u, 2u}) {
    SCOPED_TRACE(threads);
    temp_dir dir;
    const fs::path path = dir / "a.7z";
    const std::string before = sample_text("before", 3'000'000);
    write_file(dir / "log.txt", before);
    ASSERT_EQ(
        run("cd " + quote(dir.path().string()) + " && 7zz a -m0=lzma2:d=1m:c=1m -mmt=4 -mx=5 a.7z log.txt >/dev/null")
            .exit_code,
        0);
    archive_appender appender(path.string(), options_with(5, threads));
    const auto from = continuation_of(*appender.snapshot(), 0);
    ASSERT_TRUE(from);
    EXPECT_EQ(from->last_dictionary_reset, 2u << 20) << "blocks of 1 MiB";
    EXPECT_EQ(from->dict_size, 1u << 20);

    const std::string added = sample_text("added", 200'000);
    commit_request request;
    request.new_files.push_back(text_entry("log.txt", before + added));
    request.appended_files.push_back({0, 0});
    EXPECT_EQ(appender.commit(request).continued_bytes, before.size());
    expect_readers_agree(path, {{{"log.txt", before + added}}, {}});
  }
}

// However large the archived folder's dictionary claims to be (property 40:
// 4 GiB), the continuing encoder is the level's; only the folder declares
// the larger one, which the archived chunks may need.
TEST(FolderContinuation, TheEncoderKeepsItsLevelsDictionary) {
  const std::string before = sample_text("before", 100'000);
  grown_log log(options_with(1, 1), before);
  auto from = continuation_of(*log.appender->snapshot(), 0);
  ASSERT_TRUE(from);
  from->dict_size = UINT32_MAX;
  for (const unsigned threads : {1u, 2u}) {
    SCOPED_TRACE(threads);
    output_file out((log.dir / ("continued" + std::to_string(threads))).string());
    out.set_position(kStartHeaderSize);
    archive_database db;
    compression_options compression = options_with(5, threads).compression;
    folder_packer packer(out, db, compression);
    const entry grown = text_entry("log.txt", before + sample_text("added", 50'000));
    ASSERT_TRUE(packer.pack_continued(grown, *from));
    ASSERT_EQ(db.folders.size(), 1u);
    const auto& properties = db.folders[0].coders().at(0).properties;
    ASSERT_EQ(properties.size(), 1u);
    EXPECT_EQ(properties[0], 40u);
  }
}
