// Several writer threads staging, overwriting, truncating and reading their
// own files while releaser threads compress-and-release finished files, all
// through one small pool: run clean under ThreadSanitizer and AddressSanitizer
// (CI builds this test with both).
#include "pool/staging_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <future>
#include <mutex>
#include <random>
#include <thread>

using namespace sevenzfs::pool;

namespace {

struct finished_file {
  std::unique_ptr<staged_file> file;
  std::string expected;
};

}  // namespace

TEST(PoolStress, WritersAndReleasersShareASmallPool) {
  // 48 chunks for 4 writers that each keep a few files: writers must wait for
  // releasers, never fail.
  chunk_pool pool(48 * kStagingChunkBytes, kStagingChunkBytes);
  staging_store store(pool);
  std::mutex finished_mutex;
  std::deque<finished_file> finished;
  std::atomic<int> writers_left{4};
  std::atomic<int> mismatches{0};
  std::atomic<std::uint64_t> released{0};

  auto writer = [&](unsigned seed) {
    std::mt19937 rng(seed);
    for (int n = 0; n < 150; ++n) {
      auto file = std::make_unique<staged_file>(store);
      std::string model;
      const int steps = 1 + static_cast<int>(rng() % 8);
      for (int s = 0; s < steps; ++s) {
        const std::size_t offset = rng() % (model.size() + 1);
        std::string data(1 + rng() % (rng() % 4 == 0 ? 100000 : 2000), static_cast<char>('a' + rng() % 26));
        if (store.write(*file, offset, std::as_bytes(std::span(data.data(), data.size()))) != data.size()) ++mismatches;
        if (model.size() < offset + data.size()) model.resize(offset + data.size());
        model.replace(offset, data.size(), data);
        if (rng() % 5 == 0) {
          const std::size_t size = rng() % (model.size() + 1);
          store.truncate(*file, size);
          model.resize(size);
        }
      }
      std::string got(model.size(), '\0');
      store.read(*file, 0, std::as_writable_bytes(std::span(got.data(), got.size())));
      if (got != model) ++mismatches;
      std::lock_guard lock(finished_mutex);
      finished.push_back({std::move(file), std::move(model)});
    }
    --writers_left;
  };

  auto releaser = [&] {
    for (;;) {
      finished_file item;
      {
        std::lock_guard lock(finished_mutex);
        if (finished.empty()) {
          if (writers_left == 0) return;
        } else {
          item = std::move(finished.front());
          finished.pop_front();
        }
      }
      if (!item.file) {
        std::this_thread::yield();
        continue;
      }
      // "Compress": consume the spans, check them, then give the memory back.
      std::string seen;
      store.for_each_span(*item.file, [&](std::span<const std::byte> s) {
        seen.append(reinterpret_cast<const char*>(s.data()), s.size());
      });
      if (seen != item.expected) ++mismatches;
      item.file.reset();
      ++released;
    }
  };

  std::vector<std::future<void>> threads;
  for (unsigned w = 1; w <= 4; ++w) threads.push_back(std::async(std::launch::async, writer, w));
  threads.push_back(std::async(std::launch::async, releaser));
  threads.push_back(std::async(std::launch::async, releaser));
  for (auto& t : threads) {
    if (t.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
      pool.shutdown();  // end every wait, so the test fails instead of hanging
      for (auto& other : threads) other.wait();
      FAIL() << "writers or releasers did not finish: a lost wake-up or a leak of pool memory";
    }
  }

  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(released.load(), 600u);
  EXPECT_EQ(store.stats().files, 0u);
  EXPECT_EQ(store.stats().live_bytes, 0u);
  EXPECT_LE(pool.stats().chunks_total - pool.stats().chunks_free, 1u);
}
