#include "pool/staging_store.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <future>

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>

using namespace sevenzfs::pool;
using namespace std::chrono_literals;

namespace {

std::span<const std::byte> as_bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

std::string read_all(const staging_store& store, const staged_file& file) {
  std::string out(file.size(), '?');
  const auto n = store.read(file, 0, std::as_writable_bytes(std::span(out.data(), out.size())));
  out.resize(n);
  return out;
}

std::string spans_of(const staging_store& store, const staged_file& file) {
  std::string out;
  store.for_each_span(
      file, [&](std::span<const std::byte> s) { out.append(reinterpret_cast<const char*>(s.data()), s.size()); });
  return out;
}

std::string pattern(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(size, '\0');
  for (auto& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

struct store_fixture : testing::Test {
  chunk_pool pool{256 * kStagingChunkBytes, kStagingChunkBytes};
  staging_store store{pool};
};

}  // namespace

TEST_F(store_fixture, WriteThenReadBack) {
  staged_file f(store);
  EXPECT_EQ(store.write(f, 0, as_bytes("hello world")), 11u);
  EXPECT_EQ(f.size(), 11u);
  EXPECT_EQ(read_all(store, f), "hello world");
  std::string part(5, '?');
  EXPECT_EQ(store.read(f, 6, std::as_writable_bytes(std::span(part.data(), part.size()))), 5u);
  EXPECT_EQ(part, "world");
  EXPECT_EQ(store.read(f, 11, std::as_writable_bytes(std::span(part.data(), part.size()))), 0u);
}

TEST_F(store_fixture, OverwriteInPlaceUsesNoNewMemory) {
  staged_file f(store);
  store.write(f, 0, as_bytes(std::string(1000, 'a')));
  const auto live = store.stats().live_bytes;
  store.write(f, 100, as_bytes(std::string(50, 'b')));
  EXPECT_EQ(store.stats().live_bytes, live);
  EXPECT_EQ(read_all(store, f), std::string(100, 'a') + std::string(50, 'b') + std::string(850, 'a'));
}

TEST_F(store_fixture, HolesReadAsZeros) {
  staged_file f(store);
  store.write(f, 100000, as_bytes("end"));
  EXPECT_EQ(f.size(), 100003u);
  EXPECT_EQ(read_all(store, f), std::string(100000, '\0') + "end");
  EXPECT_EQ(spans_of(store, f), std::string(100000, '\0') + "end");
  EXPECT_EQ(store.stats().live_bytes, 3u) << "a hole costs no memory";
}

TEST_F(store_fixture, TruncateShrinksAndGrows) {
  staged_file f(store);
  store.write(f, 0, as_bytes(pattern(200000, 1)));
  store.truncate(f, 70000);
  EXPECT_EQ(read_all(store, f), pattern(200000, 1).substr(0, 70000));
  EXPECT_EQ(store.stats().live_bytes, 70000u);
  store.truncate(f, 90000);
  EXPECT_EQ(read_all(store, f), pattern(200000, 1).substr(0, 70000) + std::string(20000, '\0'));
  store.truncate(f, 0);
  EXPECT_EQ(f.size(), 0u);
  EXPECT_EQ(store.stats().live_bytes, 0u);
}

TEST_F(store_fixture, FileLargerThanAChunkIsContiguousWhenWrittenAlone) {
  staged_file f(store);
  const auto data = pattern(5 * kStagingChunkBytes + 123, 2);
  for (std::size_t at = 0; at < data.size(); at += 4096) store.write(f, at, as_bytes(data.substr(at, 4096)));
  EXPECT_EQ(read_all(store, f), data);
  EXPECT_EQ(spans_of(store, f), data);
  EXPECT_EQ(f.piece_count(), 6u) << "sequential appends extend the tail piece";
}

TEST_F(store_fixture, TinyFilesShareChunks) {
  std::vector<staged_file> files;
  files.reserve(10000);
  for (int i = 0; i < 10000; ++i) {
    files.emplace_back(store);
    store.write(files.back(), 0, as_bytes(pattern(100, static_cast<unsigned>(i))));
  }
  // 1,000,000 bytes: 16 chunks of 64 KiB, not 10,000.
  EXPECT_EQ(pool.stats().chunks_total - pool.stats().chunks_free, 16u);
  EXPECT_EQ(store.stats().bytes, 1000000u);
  EXPECT_EQ(store.stats().files, 10000u);
  EXPECT_EQ(store.stats().small_files, 10000u);
  for (int i = 0; i < 10000; i += 997)
    EXPECT_EQ(read_all(store, files[static_cast<std::size_t>(i)]), pattern(100, static_cast<unsigned>(i)));
  files.clear();
  EXPECT_EQ(pool.stats().chunks_free, pool.stats().chunks_total - 1) << "every chunk but the open tail goes back";
  EXPECT_EQ(store.stats().files, 0u);
}

TEST_F(store_fixture, ChunksReturnWhenTheirLastFileIsCleared) {
  staged_file a(store);
  staged_file b(store);
  store.write(a, 0, as_bytes(std::string(kStagingChunkBytes, 'a')));  // fills chunk 1
  store.write(b, 0, as_bytes(std::string(10, 'b')));                  // opens chunk 2
  const auto used = pool.stats().chunks_total - pool.stats().chunks_free;
  EXPECT_EQ(used, 2u);
  store.clear(a);
  EXPECT_EQ(pool.stats().chunks_total - pool.stats().chunks_free, 1u);
  store.clear(b);
  EXPECT_EQ(pool.stats().chunks_total - pool.stats().chunks_free, 1u) << "the open tail chunk stays";
}

TEST_F(store_fixture, SizeClasses) {
  staged_file small(store), medium(store), large(store);
  store.write(small, 0, as_bytes("x"));
  store.write(medium, 0, as_bytes(std::string(100000, 'm')));
  store.write(large, 2 << 20, as_bytes("x"));
  const auto s = store.stats();
  EXPECT_EQ(s.small_files, 1u);
  EXPECT_EQ(s.medium_files, 1u);
  EXPECT_EQ(s.large_files, 1u);
  store.truncate(large, 10);
  EXPECT_EQ(store.stats().small_files, 2u);
  EXPECT_EQ(store.stats().large_files, 0u);
}

TEST(StagingStore, FullPoolMakesWritersWaitNotFail) {
  chunk_pool pool(4 * kStagingChunkBytes, kStagingChunkBytes);
  staging_store store(pool);
  auto first = std::make_unique<staged_file>(store);
  store.write(*first, 0, as_bytes(std::string(3 * kStagingChunkBytes + 10, 'a')));  // 4 chunks in use
  staged_file second(store);
  auto writer = std::async(std::launch::async,
                           [&] { return store.write(second, 0, as_bytes(std::string(kStagingChunkBytes, 'b'))); });
  ASSERT_TRUE(sevenzfs::test::eventually([&] { return pool.waiting() == 1; })) << "the write must wait for memory";
  EXPECT_EQ(writer.wait_for(20ms), std::future_status::timeout);
  first.reset();  // "compressed": its chunks go back
  if (writer.wait_for(10s) != std::future_status::ready) {
    pool.shutdown();  // end the wait, so the test fails instead of hanging
    FAIL() << "freed memory did not wake the waiting writer";
  }
  EXPECT_EQ(writer.get(), kStagingChunkBytes);
  EXPECT_EQ(read_all(store, second), std::string(kStagingChunkBytes, 'b'));
  EXPECT_GE(pool.stats().waits, 1u);
}

TEST(StagingStore, FailFastWriteStopsWhereMemoryEnds) {
  chunk_pool pool(2 * kStagingChunkBytes, kStagingChunkBytes);
  staging_store store(pool);
  staged_file f(store);
  const std::string data(3 * kStagingChunkBytes, 'z');
  EXPECT_EQ(store.write(f, 0, as_bytes(data), staging_store::memory_wait::fail_fast), 2 * kStagingChunkBytes);
  EXPECT_EQ(f.size(), 2 * kStagingChunkBytes);
  EXPECT_EQ(pool.stats().waits, 0u);
  EXPECT_EQ(read_all(store, f), data.substr(0, 2 * kStagingChunkBytes));
}

TEST(StagingStore, ShutdownEndsAWaitingWriteShort) {
  chunk_pool pool(kStagingChunkBytes, kStagingChunkBytes);
  staging_store store(pool);
  staged_file f(store);
  auto writer = std::async(std::launch::async,
                           [&] { return store.write(f, 0, as_bytes(std::string(kStagingChunkBytes + 100, 'x'))); });
  ASSERT_TRUE(sevenzfs::test::eventually([&] { return pool.waiting() == 1; }));
  pool.shutdown();
  ASSERT_EQ(writer.wait_for(10s), std::future_status::ready) << "shutdown must end the wait";
  EXPECT_EQ(writer.get(), kStagingChunkBytes);
  EXPECT_EQ(f.size(), kStagingChunkBytes);
}

// Property test: random writes, truncates and reads on interleaved files
// behave exactly like std::string models.
TEST(StagingStore, RandomOperationsMatchAStringModel) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(seed);
    chunk_pool pool(1024 * kStagingChunkBytes, kStagingChunkBytes);
    staging_store store(pool);
    std::mt19937_64 rng(seed);
    std::vector<std::unique_ptr<staged_file>> files;
    std::vector<std::string> models;
    for (int i = 0; i < 5; ++i) {
      files.push_back(std::make_unique<staged_file>(store));
      models.emplace_back();
    }
    for (int step = 0; step < 600; ++step) {
      const std::size_t k = rng() % files.size();
      auto& model = models[k];
      auto& file = *files[k];
      const auto op = rng() % 10;
      const std::uint64_t limit = (rng() % 4 == 0) ? 400000 : 5000;
      if (op < 6) {
        const std::uint64_t offset = rng() % limit;
        const std::string data = pattern(1 + rng() % (rng() % 3 == 0 ? 150000 : 3000), static_cast<unsigned>(rng()));
        ASSERT_EQ(store.write(file, offset, as_bytes(data)), data.size());
        if (model.size() < offset + data.size()) model.resize(offset + data.size(), '\0');
        model.replace(offset, data.size(), data);
      } else if (op < 8) {
        const std::uint64_t size = rng() % limit;
        store.truncate(file, size);
        model.resize(size, '\0');
      } else if (op < 9) {
        const std::uint64_t offset = model.empty() ? 0 : rng() % model.size();
        const std::size_t requested = 1 + rng() % 70000;
        std::string got(requested, '?');
        const auto n = store.read(file, offset, std::as_writable_bytes(std::span(got.data(), got.size())));
        ASSERT_EQ(n, std::min<std::size_t>(requested, model.size() - std::min<std::size_t>(offset, model.size())));
        got.resize(n);
        ASSERT_EQ(got, model.substr(std::min<std::size_t>(offset, model.size()), n));
      } else {
        store.clear(file);
        model.clear();
      }
      ASSERT_EQ(file.size(), model.size());
    }
    std::uint64_t total = 0;
    for (std::size_t k = 0; k < files.size(); ++k) {
      ASSERT_EQ(read_all(store, *files[k]), models[k]);
      ASSERT_EQ(spans_of(store, *files[k]), models[k]);
      total += models[k].size();
    }
    EXPECT_EQ(store.stats().bytes, total);
    EXPECT_LE(store.stats().live_bytes, total);
    files.clear();
    EXPECT_EQ(store.stats().live_bytes, 0u);
    EXPECT_EQ(pool.stats().chunks_total - pool.stats().chunks_free, 1u) << "only the open tail chunk";
  }
}
