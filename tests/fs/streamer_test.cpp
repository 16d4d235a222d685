// The streamer without a mount: sealed bytes handed over are compressed into
// pending files and released; they read back from the pending copy, then
// from the taken folders until the commit is applied; figures count what is
// not committed. Before start() nothing streams.
#include "fs/streamer.hpp"

#include "fs_test_support.hpp"
#include "sample_bytes.hpp"
#include "test_support.hpp"

#include "archive/archive_writer.hpp"
#include "pool/chunk_pool.hpp"
#include "pool/staging_store.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <random>
#include <regex>
#include <thread>

using namespace std::chrono_literals;
using namespace sevenzfs::test;
namespace fs = sevenzfs::fs;

namespace {

struct streamer_test : ::testing::Test {
  temp_dir dir;
  sevenzfs::pool::chunk_pool chunks{16u << 20, sevenzfs::pool::kStagingChunkBytes};
  sevenzfs::pool::staging_store store{chunks};
  sevenzfs::archive::cached_reader reader;
  captured_log log;
  // Before the streamer: destroyed after it, as sealed bytes in its parts refer to it.
  const fs::pending_locator locate = [this](sevenzfs::archive::pending_id id) { return streamer->locate(id); };
  std::unique_ptr<fs::streamer> streamer;

  void SetUp() override {
    sevenzfs::archive::write_options write;
    write.compression.level = 1;
    write.compression.threads = 2;
    streamer = std::make_unique<fs::streamer>((dir / "a.7z").string(), write, log.logger());
  }

  std::shared_ptr<fs::sealed_bytes> sealed(const std::string& text) {
    sevenzfs::pool::staged_file file(store);
    EXPECT_EQ(store.write(file, 0, std::as_bytes(std::span(text))), text.size());
    return std::make_shared<fs::sealed_bytes>(store, std::move(file), reader, locate);
  }

  // Hands `bytes` over with writes past 64 KiB failing (file_size_limit),
  // and waits until the compressor has failed on them.
  void hand_over_to_fail(const std::shared_ptr<fs::sealed_bytes>& bytes);

  // Waits (10 s at most) until `bytes` are released on their "encoded".
  static void wait_released(const fs::sealed_bytes& bytes) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!bytes.released() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  }

  std::string read(const fs::sealed_bytes& bytes) {
    std::string out(bytes.size(), '\0');
    auto got = bytes.read(0, std::as_writable_bytes(std::span(out)));
    EXPECT_TRUE(got.has_value()) << (got ? "" : got.error().message);
    return out;
  }
};

std::string text(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 next(seed);
  std::string out;
  while (out.size() < size) {
    out += "line ";
    out += std::to_string(next() % 1000);
    out += '\n';
  }
  out.resize(size);
  return out;
}

}  // namespace

TEST_F(streamer_test, NothingStreamsBeforeStart) {
  const auto bytes = sealed("never handed over");
  EXPECT_FALSE(streamer->streaming());
  streamer->expect_hand_over();
  EXPECT_FALSE(streamer->hand_over("a.txt", bytes));
  streamer->wait_for_hand_overs();  // the expected hand-over ended anyway
  EXPECT_EQ(bytes->id(), 0u);
  EXPECT_TRUE(streamer->take().folders().empty());
}

TEST_F(streamer_test, HandedOverBytesAreReleasedAndReadBackUntilTheirCommitIsApplied) {
  streamer->start();
  ASSERT_TRUE(streamer->streaming());
  std::vector<std::string> texts;
  std::vector<std::shared_ptr<fs::sealed_bytes>> handed;
  for (int i = 0; i < 6; ++i) {
    texts.push_back(text(200'000 + i, i));
    handed.push_back(sealed(texts.back()));
    streamer->expect_hand_over();
    ASSERT_TRUE(streamer->hand_over(fmt::format("f{}.txt", i), handed.back()));
    EXPECT_NE(handed.back()->id(), 0u);
  }
  streamer->wait_for_hand_overs();
  streamer->finish();
  // The release runs on the worker right after the write that finish() waits for.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!std::ranges::all_of(handed, [](const auto& b) { return b->released(); }) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  for (std::size_t i = 0; i < handed.size(); ++i) {
    EXPECT_TRUE(handed[i]->released()) << i;
    EXPECT_EQ(read(*handed[i]), texts[i]) << "from the pending copy";
  }
  EXPECT_EQ(store.stats().files, 0u) << "every staged file was given back";
  std::uint64_t total = 0;
  for (const auto& t : texts) total += t.size();
  EXPECT_EQ(streamer->figures().pending_bytes, total);
  EXPECT_EQ(streamer->figures().written_bytes, total);

  const auto folders = streamer->take().folders();
  std::size_t files = 0;
  for (const auto& folder : folders) files += folder.ids.size();
  EXPECT_EQ(files, handed.size());
  for (std::size_t i = 0; i < handed.size(); ++i) EXPECT_EQ(read(*handed[i]), texts[i]) << "from the taken folders";
  // A commit that failed: the same folders come again.
  EXPECT_EQ(streamer->take().folders().size(), folders.size());
  streamer->committed();
  EXPECT_TRUE(streamer->take().folders().empty());
  EXPECT_EQ(streamer->figures().pending_bytes, 0u);
  EXPECT_EQ(streamer->figures().written_bytes, 0u);
  EXPECT_FALSE(streamer->locate(handed[0]->id())) << "committed: read from the archive now";
}

// Bytes abandoned (their file removed or changed) have their compression
// skipped, so their pending copy is not whole: they are not released when
// reported encoded, and whoever still holds them (a commit compressing the
// file itself) reads them from memory.
TEST_F(streamer_test, AbandonedBytesAreNotReleasedAndStillReadWhole) {
  streamer->start();
  const std::string whole = text(3'000'000, 7);
  const auto abandoned = sealed(whole);
  abandoned->abandon();
  streamer->expect_hand_over();
  ASSERT_TRUE(streamer->hand_over("removed.log", abandoned));
  streamer->wait_for_hand_overs();
  streamer->finish();
  EXPECT_FALSE(streamer->compressing()) << "reported encoded all the same";
  EXPECT_FALSE(abandoned->released());
  EXPECT_EQ(read(*abandoned), whole);
  streamer->stop();  // its report counts the parts skipped
  EXPECT_TRUE(std::regex_search(log.text(), std::regex("incompressible, [1-9][0-9]* skipped"))) << log.text();
}

TEST_F(streamer_test, StopRemovesThePendingFiles) {
  streamer->start();
  const auto bytes = sealed(text(100'000, 9));
  streamer->expect_hand_over();
  ASSERT_TRUE(streamer->hand_over("x.txt", bytes));
  streamer->finish();
  (void)streamer->take();
  EXPECT_NE(run("ls " + quote(dir.path().string()) + " | grep -c pending.tmp").output, "0\n");
  streamer->stop();
  EXPECT_FALSE(streamer->streaming());
  EXPECT_EQ(run("ls " + quote(dir.path().string()) + " | grep -c pending.tmp").output, "0\n");
}

namespace {

// Writes past `bytes` fail with EFBIG (SIGXFSZ ignored) while it lives.
struct file_size_limit {
  explicit file_size_limit(rlim_t bytes) {
    EXPECT_EQ(::getrlimit(RLIMIT_FSIZE, &before), 0);
    previous_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limited = before;
    limited.rlim_cur = bytes;
    EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  }
  ~file_size_limit() {
    ::setrlimit(RLIMIT_FSIZE, &before);
    std::signal(SIGXFSZ, previous_handler);
  }
  file_size_limit(const file_size_limit&) = delete;
  file_size_limit& operator=(const file_size_limit&) = delete;
  rlimit before{};
  void (*previous_handler)(int) = nullptr;
};

// Under a part (1 MiB at level 1): only flush() starts its compression, so
// no call into the compressor raises the failure before compressing() does.
void streamer_test::hand_over_to_fail(const std::shared_ptr<fs::sealed_bytes>& bytes) {
  const file_size_limit limit(64 << 10);
  streamer->expect_hand_over();
  ASSERT_TRUE(streamer->hand_over("big.bin", bytes));
  streamer->flush();
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (streamer->compressing() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
}

}  // namespace

// Compression fails on a worker after the hand-over (the pending file cannot
// grow): the files it held are compressing no more, so the daemon's rest is
// not put off for ever; the failure stops streaming and the bytes stay
// readable for a commit to compress.
TEST_F(streamer_test, AFailedCompressorIsNotCompressing) {
  streamer->start();
  const std::string content = random_bytes(256u << 10, 4);
  const auto bytes = sealed(content);
  hand_over_to_fail(bytes);
  EXPECT_FALSE(streamer->compressing());
  EXPECT_FALSE(streamer->streaming());
  EXPECT_NE(log.text().find("streaming compression stopped"), std::string::npos) << log.text();
  EXPECT_FALSE(bytes->released());
  EXPECT_EQ(read(*bytes), content);
}

// After a failure, resume() makes a new compressor: the failed one's pending
// files go, and its ids are never given out again (a file still holding one
// must not read another file's bytes).
TEST_F(streamer_test, AFailedCompressorIsReplacedByOneWithIdsNeverGivenOut) {
  streamer->start();
  EXPECT_FALSE(streamer->resumable());
  // One file compressed before the failure: read from the failed
  // compressor's pending file until it is replaced.
  const auto early = sealed(text(20'000, 3));
  streamer->expect_hand_over();
  ASSERT_TRUE(streamer->hand_over("early.txt", early));
  streamer->finish();
  wait_released(*early);
  ASSERT_TRUE(early->released());
  const auto failed = sealed(random_bytes(256u << 10, 5));
  hand_over_to_fail(failed);
  ASSERT_FALSE(streamer->streaming());
  ASSERT_TRUE(streamer->resumable());
  const auto old_id = failed->id();
  ASSERT_NE(old_id, 0u);
  EXPECT_TRUE(streamer->locate(early->id()));
  EXPECT_EQ(run("ls " + quote(dir.path().string()) + " | grep -c pending.tmp").output, "1\n");

  streamer->resume();
  EXPECT_TRUE(streamer->streaming());
  EXPECT_FALSE(streamer->resumable());
  EXPECT_NE(log.text().find("streaming compression resumed"), std::string::npos) << log.text();
  EXPECT_EQ(run("ls " + quote(dir.path().string()) + " | grep -c pending.tmp").output, "0\n")
      << "the failed compressor's pending file is removed";
  EXPECT_FALSE(streamer->locate(early->id()));

  const std::string content = text(300'000, 11);
  const auto later = sealed(content);
  streamer->expect_hand_over();
  ASSERT_TRUE(streamer->hand_over("later.txt", later));
  EXPECT_GT(later->id(), old_id);
  streamer->finish();
  wait_released(*later);
  EXPECT_TRUE(later->released());
  EXPECT_EQ(read(*later), content) << "from the new compressor's pending copy";
  EXPECT_EQ(streamer->figures().pending_bytes, content.size()) << "only what the new compressor was handed";
  EXPECT_TRUE(streamer->locate(later->id()));
  EXPECT_FALSE(streamer->locate(early->id())) << "not some file of the new compressor";
}
