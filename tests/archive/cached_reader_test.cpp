// cached_reader on archives written in-process: random access, what is
// decoded how often (sequential reads and solid folders decode once),
// concurrent readers, CRC and data errors remembered, unsupported methods
// refused before any decoding.
#include "archive/cached_reader.hpp"

#include "archive/archive_error.hpp"
#include "archive/archive_writer.hpp"
#include "archive/file_io.hpp"
#include "test_support.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fcntl.h>

#include <random>
#include <thread>

using namespace sevenzfs::archive;
using namespace sevenzfs::test;
using bytes = std::vector<std::uint8_t>;

namespace {

bytes content(std::size_t size, unsigned seed) {
  std::minstd_rand rng(seed + 1);
  bytes data(size);
  // Compressible but not trivially: runs of a small random alphabet.
  for (std::size_t i = 0; i < size; ++i)
    data[i] = i % 16 < 4 ? static_cast<std::uint8_t>(rng()) : static_cast<std::uint8_t>('a' + i % 13);
  return data;
}

struct archive_fixture {
  temp_dir dir;
  std::string path;
  std::vector<bytes> contents;  // by substream

  archive_fixture(std::vector<std::size_t> sizes, pack_mode mode, int level = 5) : path((dir / "a.7z").string()) {
    std::vector<entry> entries;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      entry e;
      e.path = std::to_string(100000 + i);  // the writer keeps this order within a folder
      e.path.insert(e.path.begin(), 'f');
      e.mode = 0644;
      e.size = sizes[i];
      auto data = content(sizes[i], static_cast<unsigned>(i));
      if (e.size > 0) e.content = std::make_shared<memory_content>(data);
      entries.push_back(std::move(e));
    }
    write_options options;
    options.plan.mode = mode;
    options.compression.level = level;
    write_archive(path, entries, options);
    const auto snapshot = archive_snapshot::open(path);
    for (std::uint64_t s = 0; s < snapshot->substream_count(); ++s) {
      const auto& name = snapshot->database().files[*snapshot->file_of_substream(s)].name;
      const auto index = std::stoul(name.substr(1)) - 100000;
      contents.push_back(content(sizes[index], static_cast<unsigned>(index)));
    }
  }
};

bytes read_whole(cached_reader& reader, const archive_snapshot& snapshot, std::uint64_t substream, std::size_t chunk) {
  bytes out(snapshot.substream(substream).size);
  for (std::size_t at = 0; at < out.size();) {
    const auto n = reader.read(snapshot, substream, at, std::span(out).subspan(at, std::min(chunk, out.size() - at)));
    EXPECT_GT(n, 0u);
    if (n == 0) break;
    at += n;
  }
  return out;
}

void flip_byte(const std::string& path, std::uint64_t offset) {
  const unique_fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  std::uint8_t byte = 0;
  ASSERT_EQ(read_at(fd.get(), offset, std::span(&byte, 1), path), 1u);
  byte ^= 0x10;
  write_at(fd.get(), offset, std::span(&byte, 1), path);
}

error_kind read_error(cached_reader& reader, const archive_snapshot& snapshot, std::uint64_t substream,
                      std::string* message = nullptr) {
  try {
    read_whole(reader, snapshot, substream, 1 << 20);
  } catch (const archive_error& error) {
    if (message) *message = error.what();
    return error.kind();
  }
  return error_kind::io;  // "no error" is reported as io so that the caller's expectation fails
}

}  // namespace

TEST(CachedReader, SequentialReadOfALargeFileDecodesItOnce) {
  archive_fixture fixture({6 << 20}, pack_mode::solid, 1);
  const auto snapshot = archive_snapshot::open(fixture.path);
  cached_reader reader({.cache_bytes = 1 << 20, .block_size = 256 << 10, .decoders = {}});
  EXPECT_EQ(read_whole(reader, *snapshot, 0, 64 << 10), fixture.contents[0]);
  const auto stats = reader.stats();
  EXPECT_EQ(stats.bytes_decoded, 6u << 20);
  EXPECT_EQ(stats.decoders_created, 1u);
  EXPECT_EQ(stats.misses, 24u);
  EXPECT_EQ(stats.hits, 24u * 4 - 24);
  EXPECT_LE(stats.cache_bytes, stats.cache_capacity);
  EXPECT_EQ(stats.decoders_alive, 0u);  // it reached the folder's end
}

TEST(CachedReader, TheLastDecoderIsKeptEvenOverTheMemoryBound) {
  // A folder with a dictionary larger than the bound still reads linearly.
  archive_fixture fixture({2 << 20}, pack_mode::solid, 1);
  const auto snapshot = archive_snapshot::open(fixture.path);
  cached_reader reader({.cache_bytes = 0, .block_size = 128 << 10, .decoders = {.max_idle = 1, .max_idle_memory = 1}});
  EXPECT_EQ(read_whole(reader, *snapshot, 0, 32 << 10), fixture.contents[0]);
  EXPECT_EQ(reader.stats().decoders_created, 1u);
  EXPECT_EQ(reader.stats().bytes_decoded, 2u << 20);
}

TEST(CachedReader, SolidFolderReadInAnyOrderDecodesItOnce) {
  std::vector<std::size_t> sizes;
  std::mt19937 rng(3);
  for (int i = 0; i < 600; ++i) sizes.push_back(rng() % 8000);
  archive_fixture fixture(sizes, pack_mode::solid, 1);
  const auto snapshot = archive_snapshot::open(fixture.path);
  ASSERT_EQ(snapshot->folder_count(), 1u);
  cached_reader reader({.cache_bytes = 4 << 20, .block_size = 64 << 10, .decoders = {}});
  std::vector<std::uint64_t> order(snapshot->substream_count());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  for (const auto s : order) ASSERT_EQ(read_whole(reader, *snapshot, s, 4096), fixture.contents[s]) << s;
  const auto folder_size = snapshot->database().folders[0].unpack_size();
  EXPECT_EQ(reader.stats().bytes_decoded, folder_size);
  EXPECT_EQ(reader.stats().decoders_created, 1u);
  // Every complete substream passed its CRC check.
  for (const auto s : order) EXPECT_EQ(snapshot->verdict(s), archive_snapshot::crc_verdict::good);
}

TEST(CachedReader, RandomOffsetsWithATinyCache) {
  std::vector<std::size_t> sizes{100'000, 0, 1, 70'000, 300'000, 12};
  for (const auto mode : {pack_mode::solid, pack_mode::batched}) {
    archive_fixture fixture(sizes, mode, 1);
    const auto snapshot = archive_snapshot::open(fixture.path);
    cached_reader reader(
        {.cache_bytes = 0, .block_size = 4096, .decoders = {.max_idle = 2}, .decoder_memory_limit = 64 << 20});
    std::mt19937 rng(5);
    for (int i = 0; i < 300; ++i) {
      const auto s = rng() % snapshot->substream_count();
      const auto& expected = fixture.contents[s];
      const std::size_t offset = expected.empty() ? 0 : rng() % (expected.size() + 10);
      bytes out(rng() % 20000);
      const auto n = reader.read(*snapshot, s, offset, out);
      const std::size_t want = offset >= expected.size() ? 0 : std::min(out.size(), expected.size() - offset);
      ASSERT_EQ(n, want);
      ASSERT_TRUE(std::equal(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n),
                             expected.begin() + static_cast<std::ptrdiff_t>(std::min(offset, expected.size()))));
    }
    EXPECT_LE(reader.stats().cache_bytes, reader.stats().cache_capacity);
    EXPECT_LE(reader.stats().decoders_alive, 2u);
  }
}

TEST(CachedReader, ConcurrentReaders) {
  std::vector<std::size_t> sizes;
  for (int i = 0; i < 100; ++i) sizes.push_back(static_cast<std::size_t>(i * 977 % 30'000));
  sizes.push_back(1'000'000);
  archive_fixture fixture(sizes, pack_mode::solid, 1);
  const auto snapshot = archive_snapshot::open(fixture.path);
  cached_reader reader({.cache_bytes = 512 << 10, .block_size = 32 << 10, .decoders = {}});
  std::atomic<int> failures{0};
  std::vector<std::jthread> threads;
  for (unsigned t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 100; ++i) {
        const auto s = rng() % snapshot->substream_count();
        const auto got = read_whole(reader, *snapshot, s, 1 + rng() % 200'000);
        if (got != fixture.contents[s]) ++failures;
      }
    });
  }
  threads.clear();
  EXPECT_EQ(failures.load(), 0);
  const auto stats = reader.stats();
  EXPECT_LE(stats.decoders_alive, 16u);
  EXPECT_GT(stats.hits, 0u);
}

TEST(CachedReader, CrcMismatchIsReportedForThatFileAndRemembered) {
  // Level 0 stores with the Copy coder: a flipped byte decodes fine and only
  // the CRC can tell.
  archive_fixture fixture({5000, 5000, 5000}, pack_mode::solid, 0);
  const auto layout = read_archive(fixture.path);
  flip_byte(fixture.path, 32 + layout.db.pack_position + 7000);  // inside the second file
  const auto snapshot = archive_snapshot::open(fixture.path);
  cached_reader reader;
  EXPECT_EQ(read_whole(reader, *snapshot, 0, 4096), fixture.contents[0]);
  std::string message;
  EXPECT_EQ(read_error(reader, *snapshot, 1, &message), error_kind::corrupt_archive);
  EXPECT_NE(message.find(snapshot->substream_name(1)), std::string::npos) << message;
  EXPECT_NE(message.find("CRC"), std::string::npos) << message;
  EXPECT_EQ(snapshot->verdict(1), archive_snapshot::crc_verdict::bad);
  // Even a read of its first bytes, served from the cache, reports it now.
  bytes first(10);
  EXPECT_THROW(reader.read(*snapshot, 1, 0, first), archive_error);
  EXPECT_EQ(read_whole(reader, *snapshot, 2, 4096), fixture.contents[2]);
}

TEST(CachedReader, DataErrorsAreRememberedNotDecodedAgain) {
  archive_fixture fixture({400'000}, pack_mode::solid, 1);
  const auto layout = read_archive(fixture.path);
  for (std::uint64_t at = 2000; at < layout.db.pack_sizes[0]; at += 1500) flip_byte(fixture.path, 32 + at);
  const auto snapshot = archive_snapshot::open(fixture.path);
  cached_reader reader({.cache_bytes = 1 << 20, .block_size = 16 << 10, .decoders = {}});
  const auto first = read_error(reader, *snapshot, 0);
  EXPECT_EQ(first, error_kind::corrupt_archive);
  const auto decoded = reader.stats().bytes_decoded;
  EXPECT_EQ(read_error(reader, *snapshot, 0), error_kind::corrupt_archive);
  EXPECT_EQ(reader.stats().bytes_decoded, decoded);
}

TEST(CachedReader, UnsupportedMethodIsRefusedBeforeDecoding) {
  archive_fixture fixture({1000}, pack_mode::solid);
  auto db = read_archive(fixture.path).db;
  auto ppmd = db.folders[0].graph();
  ppmd.coders[0].method_id = {0x03, 0x04, 0x01};  // PPMd
  db.folders[0] = folder_info(ppmd, db.folders[0].unpack_sizes, db.folders[0].unpack_crc);
  const auto snapshot = archive_snapshot::from(unique_fd(::open(fixture.path.c_str(), O_RDONLY | O_CLOEXEC)),
                                               fixture.path, std::move(db));
  EXPECT_EQ(snapshot->unsupported_method(0), "PPMD");
  cached_reader reader;
  std::string message;
  EXPECT_EQ(read_error(reader, *snapshot, 0, &message), error_kind::unsupported);
  EXPECT_NE(message.find("PPMD"), std::string::npos);
  EXPECT_EQ(reader.stats().misses, 0u);
}

TEST(CachedReader, ForgetDropsWhatASnapshotHeld) {
  archive_fixture fixture({1 << 20}, pack_mode::solid, 1);
  const auto snapshot = archive_snapshot::open(fixture.path);
  cached_reader reader({.cache_bytes = 1 << 20, .block_size = 256 << 10, .decoders = {}});
  bytes part(1000);
  reader.read(*snapshot, 0, 0, part);
  EXPECT_GT(reader.stats().cache_bytes, 0u);
  EXPECT_EQ(reader.stats().decoders_alive, 1u);
  reader.forget(snapshot->data_identity());
  EXPECT_EQ(reader.stats().cache_bytes, 0u);
  EXPECT_EQ(reader.stats().decoders_alive, 0u);
  EXPECT_THROW(reader.read(*snapshot, 1, 0, part), archive_error);  // no such stream
}

// A decoder kept between reads holds its file open: once the file is
// removed (a pending file let go after its commit), the reader lets it go,
// or the file's space stays taken until the daemon ends.
TEST(CachedReader, DecodersOfARemovedFileAreLetGo) {
  archive_fixture fixture({1 << 20}, pack_mode::solid, 1);
  auto snapshot = archive_snapshot::open(fixture.path);
  cached_reader reader({.cache_bytes = 1 << 20, .block_size = 256 << 10, .decoders = {}});
  bytes part(1000);
  reader.read(*snapshot, 0, 0, part);
  ASSERT_EQ(reader.stats().decoders_alive, 1u);
  reader.forget_removed_files();
  EXPECT_EQ(reader.stats().decoders_alive, 1u) << "its file is still there";
  const std::string opened = fmt::format("/proc/self/fd/{}", snapshot->fd());
  snapshot.reset();
  const auto held = [&] { return std::filesystem::exists(std::filesystem::symlink_status(opened)); };
  ASSERT_TRUE(held()) << "the kept decoder holds the snapshot and its descriptor";
  std::filesystem::remove(fixture.path);
  reader.forget_removed_files();
  EXPECT_EQ(reader.stats().decoders_alive, 0u);
  EXPECT_FALSE(held()) << "the removed file's descriptor is closed";
}

TEST(CachedReader, ASnapshotOfTheSameDataReusesWhatTheLastOneDecodedAndLearned) {
  // An in-place commit's new snapshot: same file, folders where they were.
  archive_fixture fixture({300'000, 5000, 5000}, pack_mode::solid, 0);
  const auto layout = read_archive(fixture.path);
  flip_byte(fixture.path, 32 + layout.db.pack_position + 302'000);  // inside the second file
  const auto before = archive_snapshot::open(fixture.path);
  cached_reader reader;
  EXPECT_EQ(read_whole(reader, *before, 0, 4096), fixture.contents[0]);  // decodes the whole folder
  const auto decoded = reader.stats().bytes_decoded;
  const auto after = archive_snapshot::from(unique_fd(::open(fixture.path.c_str(), O_RDONLY | O_CLOEXEC)), fixture.path,
                                            archive_database(layout.db), before.get());
  EXPECT_EQ(after->data_identity(), before->data_identity());
  EXPECT_EQ(read_whole(reader, *after, 0, 4096), fixture.contents[0]);
  EXPECT_EQ(reader.stats().bytes_decoded, decoded) << "served from what the first snapshot decoded";
  // Damage found through one snapshot is known to the other.
  EXPECT_EQ(after->verdict(1), archive_snapshot::crc_verdict::bad);
  EXPECT_EQ(read_error(reader, *after, 1), error_kind::corrupt_archive);
  EXPECT_EQ(read_whole(reader, *after, 2, 4096), fixture.contents[2]);
  // A snapshot of other data (a rewritten archive) starts afresh.
  const auto other = archive_snapshot::open(fixture.path);
  EXPECT_NE(other->data_identity(), before->data_identity());
}
