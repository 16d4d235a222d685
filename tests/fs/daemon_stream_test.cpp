// Streaming compression through real mounts: closed files are compressed
// (and their memory freed) before any commit, read back meanwhile, and a
// commit copies them; a file changed, renamed or removed after it was sealed
// is archived as the mount shows it, once. Writers go on while a commit
// compresses. Progress means bytes compressed of bytes pending (the memory
// bound for input many times the pool: daemon_large_test). While writes go
// on, settled files stream on writing_threads (one fewer than threads by
// default), or wait when that is 0, unless the pool is half full.
#include "mount_fixture.hpp"
#include "sample_bytes.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

namespace fs = std::filesystem;
using namespace sevenzfs::test;

namespace {

std::uint64_t number(const fs::path& mnt, const std::string& name) { return std::stoull(xattr(mnt, name)); }

// Waits until everything handed over is compressed (or the timeout).
bool wait_compressed(const fs::path& mnt, std::uint64_t pending, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (number(mnt, "user.sevenzfs.commit_pending_bytes") == pending &&
        number(mnt, "user.sevenzfs.commit_done_bytes") == pending) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string diff_r(const fs::path& a, const fs::path& b) {
  return run("diff -r --no-dereference " + quote(a.string()) + " " + quote(b.string()) + " 2>&1").output;
}

// Every reader restores `model` (paths in the archive) from `archive`:
// `7zz t`; `7zz x` and `bsdtar -x` into directories under `scratch`, each
// diffed against the model; py7zr's testzip.
void expect_every_reader_restores(const fs::path& archive, const fs::path& scratch,
                                  const std::map<std::string, std::string>& model) {
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  for (const auto& [name, bytes] : model) {
    fs::create_directories((scratch / "want" / name).parent_path());
    write_file(scratch / "want" / name, bytes);
  }
  EXPECT_EQ(run("7zz x -y -o" + quote((scratch / "got").string()) + " " + quote(archive.string())).exit_code, 0);
  EXPECT_EQ(diff_r(scratch / "want", scratch / "got"), "");
  fs::create_directories(scratch / "bsdtar");
  EXPECT_EQ(run("bsdtar -xf " + quote(archive.string()) + " -C " + quote((scratch / "bsdtar").string())).exit_code, 0);
  EXPECT_EQ(diff_r(scratch / "want", scratch / "bsdtar"), "");
  EXPECT_EQ(run("/usr/bin/python3 -c 'import py7zr,sys; print(py7zr.SevenZipFile(sys.argv[1]).testzip())' " +
                quote(archive.string()))
                .output,
            "None\n")
      << "py7zr testzip";
}

}  // namespace

TEST_F(mount_fixture, ClosedFilesAreCompressedBeforeAnyCommitAndReadBack) {
  auto daemon = mount("settle=0,pool_size=16M,level=1,mode=hybrid,hybrid_threshold=256K");
  std::map<std::string, std::string> model;
  for (int i = 0; i < 12; ++i) {
    const std::string name = fmt::format("f{}.{}", i, i % 3 == 0 ? "bin" : "txt");
    model[name] = i % 3 == 0 ? random_bytes(300'000 + i, i) : text_bytes(100'000 + i * 1000, i);
    write_file(mnt / name, model[name]);
  }
  std::uint64_t total = 0;
  for (const auto& [name, bytes] : model) total += bytes.size();
  ASSERT_TRUE(wait_compressed(mnt, total, std::chrono::seconds(60))) << daemon->log();
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.commits_total"), "0");
  EXPECT_LT(std::stod(xattr(mnt, "user.sevenzfs.commit_progress_percent")), 100.0) << "nothing is committed yet";
  // Their pool memory is free: reads decode the pending copies.
  // (But for the chunk the pool's log is filling, which stays taken.) The
  // figures count a file as written just before its memory is released, on
  // the worker: give the release a moment.
  const auto pool_free = [&] {
    return number(mnt, "user.sevenzfs.pool_free_bytes") + 65536 >= number(mnt, "user.sevenzfs.pool_bytes");
  };
  for (const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       !pool_free() && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(pool_free());
  EXPECT_EQ(xattr(mnt / "f0.bin", "user.sevenzfs.state"), R"({"state":"compressed","size":300000})");
  for (const auto& [name, bytes] : model) EXPECT_EQ(read_file(mnt / name), bytes) << name;

  // Changed after sealing: rewritten, appended to, renamed, removed.
  model["f1.txt"] = text_bytes(5'000, 99);
  write_file(mnt / "f1.txt", model["f1.txt"]);
  {
    const int fd = ::open((mnt / "f2.txt").c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "tail\n", 5), 5);
    ::close(fd);
    model["f2.txt"] += "tail\n";
  }
  fs::rename(mnt / "f4.txt", mnt / "moved.txt");
  model["moved.txt"] = model["f4.txt"];
  model.erase("f4.txt");
  fs::remove(mnt / "f3.bin");
  model.erase("f3.bin");
  for (const auto& [name, bytes] : model) EXPECT_EQ(read_file(mnt / name), bytes) << name;

  ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0) << std::strerror(errno);
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.commits_total"), "1");
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.commit_pending_bytes"), "0") << "pending resets once committed";
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.commit_progress_percent"), "100.0");
  for (const auto& [name, bytes] : model) EXPECT_EQ(read_file(mnt / name), bytes) << name;
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  EXPECT_EQ(run("ls " + quote(dir.path().string()) + " | grep -c pending.tmp").output, "0\n") << "no pending file left";

  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  fs::create_directories(dir / "want");
  for (const auto& [name, bytes] : model) write_file(dir / "want" / name, bytes);
  EXPECT_EQ(run("7zz x -y -o" + quote((dir / "got").string()) + " " + quote(archive.string())).exit_code, 0);
  EXPECT_EQ(diff_r(dir / "want", dir / "got"), "");
  EXPECT_EQ(run("bsdtar -tf " + quote(archive.string()) + " | wc -l").output, std::to_string(model.size()) + "\n");
  EXPECT_EQ(run("/usr/bin/python3 -c 'import py7zr,sys; print(py7zr.SevenZipFile(sys.argv[1]).testzip())' " +
                quote(archive.string()))
                .output,
            "None\n")
      << "py7zr testzip";
}

// A solid lane of random files goes into parts of several files that no
// encoder sees: LZMA2 uncompressed chunks, the folder's first resetting the
// dictionary. Every reader restores them, and a copy of an earlier file
// is still found.
TEST_F(mount_fixture, RandomFilesInASolidFolderAreStoredInItAndEveryReaderRestoresThem) {
  auto daemon = mount("settle=0,pool_size=16M,level=3,mode=solid");
  std::map<std::string, std::string> model;
  for (int i = 0; i < 60; ++i) model[fmt::format("blobs/b{:02}.bin", i)] = random_bytes(100'000 + i, 1000 + i);
  model["blobs/b60.bin"] = model["blobs/b03.bin"];
  for (int i = 0; i < 5; ++i) model[fmt::format("notes/n{}.txt", i)] = text_bytes(50'000, 2000 + i);
  fs::create_directories(mnt / "blobs");
  fs::create_directories(mnt / "notes");
  for (const auto& [name, bytes] : model) write_file(mnt / name, bytes);
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  const auto parts = daemon->log().find("parts incompressible");
  ASSERT_NE(parts, std::string::npos) << daemon->log();
  const auto line_start = daemon->log().rfind("primed; ", parts);
  ASSERT_NE(line_start, std::string::npos);
  EXPECT_GE(std::stoi(daemon->log().substr(line_start + 8)), 2) << daemon->log();

  std::uint64_t input = 0;
  for (const auto& [name, bytes] : model) input += bytes.size();
  EXPECT_LT(fs::file_size(archive), input - 90'000) << "the copy of b03.bin was not found";
  expect_every_reader_restores(archive, dir.path(), model);
}

// Two copies of a large random file, as the QA pass copied them: the
// second is found (the archive holds the noise once), and every reader
// restores both. While a probe judged such files, the first's parts gave
// up and handed the next no primer: the archive held the noise twice.
TEST_F(mount_fixture, ACopyOfALargeRandomFileIsStoredOnce) {
  auto daemon = mount("settle=0,mode=solid");
  std::map<std::string, std::string> model;
  model["a.bin"] = random_bytes(2 << 20, 77);
  model["b.bin"] = model["a.bin"];
  for (const auto& [name, bytes] : model) write_file(mnt / name, bytes);
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  EXPECT_LT(fs::file_size(archive), (2u << 20) + (64u << 10)) << "the copy was not found";
  expect_every_reader_restores(archive, dir.path(), model);
}

// A file removed (or truncated, or rewritten) while the compressor has it:
// the rest of its compression is skipped, so a commit meanwhile does not
// wait for it (the QA pass: `truncate -s 3G big; rm big; sync small` took
// 12 s; with 5T, hours). Nothing of it reaches the archive.
TEST_F(mount_fixture, ACommitDoesNotWaitForTheCompressionOfAFileRemovedMeanwhile) {
  auto daemon = mount("settle=0,threads=1");
  for (const char* name : {"removed.bin", "emptied.bin"}) {
    // As `truncate -s 1G`: written through a descriptor, so its close settles it.
    const int fd = ::open((mnt / name).c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 1 << 30), 0);
    ::close(fd);
  }
  EXPECT_TRUE(eventually([&] {
    return xattr(mnt / "emptied.bin", "user.sevenzfs.state").find("compressing") != std::string::npos;
  })) << xattr(mnt / "emptied.bin", "user.sevenzfs.state");
  fs::remove(mnt / "removed.bin");
  ASSERT_EQ(::truncate((mnt / "emptied.bin").c_str(), 0), 0);
  write_file(mnt / "small.txt", "kept\n");
  ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0) << std::strerror(errno);
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  const std::string logged = daemon->log();
  const auto at = logged.find("parts incompressible, ");
  ASSERT_NE(at, std::string::npos) << logged;
  EXPECT_GT(std::stoul(logged.substr(at + 22)), 0u) << "no part was skipped:\n" << logged;
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  const auto listed = run("7zz l -ba " + quote(archive.string())).output;
  EXPECT_NE(listed.find("small.txt"), std::string::npos) << listed;
  EXPECT_NE(listed.find("emptied.bin"), std::string::npos) << listed;
  EXPECT_EQ(listed.find("removed.bin"), std::string::npos) << listed;
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " small.txt").output, "kept\n");
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " emptied.bin").output, "");
}

// Through the mount, fsync(2) of a file and of a directory commit what they
// name, not a large file the compressor is still working on (git's pack
// fsync behind a `tar x` into the same mount): a file written, fsynced and
// renamed, then its directory fsynced, is in the archive under its name.
TEST_F(mount_fixture, AnFsyncCommitsItsFileWhileOthersAreStillCompressed) {
  auto daemon = mount("settle=0,threads=1");
  const std::string large = text_bytes(16u << 20, 5);
  write_file(mnt / "large.txt", large);
  const auto still_compressing = [&] {
    return xattr(mnt / "large.txt", "user.sevenzfs.state").find("compressing") != std::string::npos;
  };
  ASSERT_TRUE(eventually(still_compressing)) << xattr(mnt / "large.txt", "user.sevenzfs.state");
  fs::create_directories(mnt / "objects");
  const int fd = ::open((mnt / "objects" / "pack.tmp").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  const std::string pack = "PACK and its objects\n";
  ASSERT_EQ(::write(fd, pack.data(), pack.size()), static_cast<ssize_t>(pack.size()));
  ASSERT_EQ(::fsync(fd), 0) << std::strerror(errno);
  ::close(fd);
  fs::rename(mnt / "objects" / "pack.tmp", mnt / "objects" / "pack");
  const int directory = ::open((mnt / "objects").c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(directory, 0);
  ASSERT_EQ(::fsync(directory), 0) << std::strerror(errno);
  ::close(directory);
  EXPECT_TRUE(still_compressing()) << "the case was not reached: large.txt compressed too fast";
  const auto listing = [&] {
    return run("7zz l -ba -slt " + quote(archive.string()) + " | grep '^Path = ' | LC_ALL=C sort").output;
  };
  EXPECT_EQ(listing(), "Path = objects\nPath = objects/pack\n");
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " objects/pack").output, pack);
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  EXPECT_EQ(listing(), "Path = large.txt\nPath = objects\nPath = objects/pack\n");
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " large.txt").output, large);
}

// A file appended to after the compressor took it (a log written by `>>`)
// is compressed whole again once it settles, as the streamer compresses
// whole files. Each time, it waits twice as long: appended every 0.5 s with
// settle=0.2, it is compressed after the first append (0.4 s settled) and
// then not until the commit (0.8 s), where before every append compressed
// it again (13 compressions of 2 MiB in all, counted by the compressor's
// closing log line).
TEST_F(mount_fixture, AFileAppendedToAfterEachCompressionWaitsLongerEachTime) {
  auto daemon = mount("settle=0.2,threads=1");
  std::string bytes = text_bytes(2u << 20, 11);
  write_file(mnt / "app.log", bytes);
  ASSERT_TRUE(eventually([&] {
    return xattr(mnt / "app.log", "user.sevenzfs.state").find("compressed") != std::string::npos;
  })) << xattr(mnt / "app.log", "user.sevenzfs.state");
  for (int i = 0; i < 12; ++i) {
    const std::string line = fmt::format("line {}\n", i);
    const int fd = ::open((mnt / "app.log").c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_EQ(::write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    ::close(fd);
    bytes += line;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  const std::string logged = daemon->log();
  const auto at = logged.find("streaming compressor: ");
  ASSERT_NE(at, std::string::npos) << logged;
  const double handed_mb = std::stod(logged.substr(at + 22));
  EXPECT_LT(handed_mb, 4.5 * 2.1) << "compressed again after most appends:\n" << logged;
  EXPECT_GE(handed_mb, 2 * 2.0) << "never compressed after the first time:\n" << logged;
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " app.log").output, bytes);
}

TEST_F(mount_fixture, WritersGoOnWhileACommitCompresses) {
  // 12 MiB of noise at level 9 on one thread: a commit of several seconds,
  // spent compressing before it takes the change gate.
  auto daemon = mount("settle=60,level=9,threads=1");
  write_file(mnt / "noise.bin", random_bytes(12u << 20, 7));
  // Made before the flush: the kernel holds the root's lock while the flush
  // setxattr on the root runs, so a lookup in the root would wait for it.
  fs::create_directories(mnt / "during");
  std::atomic<bool> flushed{false};
  double flush_seconds = 0;
  std::thread flusher([&] {
    const auto began = std::chrono::steady_clock::now();
    ::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0);
    flush_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    flushed = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (xattr(mnt, "user.sevenzfs.committing") != "1" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(xattr(mnt, "user.sevenzfs.committing"), "1");
  for (int i = 0; i < 20; ++i) write_file(mnt / "during" / std::to_string(i), text_bytes(50'000, i));
  EXPECT_FALSE(flushed.load()) << "creating and writing files waited for the commit";
  flusher.join();
  // The commit's duration is the flush's wait, most of it for compression
  // before the commit took the gate (it read a few milliseconds).
  EXPECT_GE(std::stod(xattr(mnt, "user.sevenzfs.last_commit_duration_seconds")), flush_seconds / 2)
      << "the flush took " << flush_seconds << " s";
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " during/19").output, text_bytes(50'000, 19));
}

namespace {

std::string state_of(const fs::path& file) {
  const std::string json = xattr(file, "user.sevenzfs.state");
  const auto start = json.find(R"("state":")");
  if (start == std::string::npos) return json;
  const auto value = start + 9;
  return json.substr(value, json.find('"', value) - value);
}

// Writes go on, for the settle queue, while pool chunks are taken at 10 MiB/s
// or more (sealer::kBusyBytesPerSecond) over windows of at least 100 ms
// (settle_queue::kHoldTick): 1 MiB a window.
constexpr std::chrono::milliseconds kHoldTick{100};
constexpr std::size_t kBusyBytes = 1 << 20;
// Once busy, writes stay so down to 2 MiB/s (sealer::kStillBusyBytesPerSecond).
constexpr std::size_t kStillBusyBytes = 200 << 10;

// Writes files of `size` bytes every `pause` until `stop`, noting when each
// was closed.
struct steady_writer {
  std::atomic<bool> stop{false};
  std::atomic<int> files{0};
  std::vector<std::chrono::steady_clock::time_point> closes;  // the writer's until finish()
  std::size_t size;
  std::thread thread;

  steady_writer(const fs::path& dir, std::size_t file_size, std::chrono::milliseconds pause) : size(file_size) {
    thread = std::thread([this, dir, pause] {
      for (int i = 0; !stop; ++i) {
        write_file(dir / fmt::format("w{}.txt", i), text_bytes(size, static_cast<std::uint64_t>(i)));
        closes.push_back(std::chrono::steady_clock::now());
        files = i + 1;
        std::this_thread::sleep_for(pause);
      }
    });
  }
  void finish() {
    stop = true;
    thread.join();
  }
  // Every span of a hold tick saw `tick_bytes` written: any `n` consecutive
  // closes (n files make tick_bytes, plus one) lie within half a tick, so
  // every tick holds n of them. False: the writer slowed down, and the settle
  // queue was right to let files go.
  bool stayed_busy(std::size_t tick_bytes = kBusyBytes) const {
    const std::size_t n = (tick_bytes + size - 1) / size + 1;
    for (std::size_t i = 0; i + n < closes.size(); ++i) {
      if (closes[i + n] - closes[i] >= kHoldTick / 2) return false;
    }
    return closes.size() > n;
  }
  double bytes_per_second() const {
    if (closes.size() < 2) return 0;
    const double seconds = std::chrono::duration<double>(closes.back() - closes.front()).count();
    return static_cast<double>((closes.size() - 1) * size) / seconds;
  }
};

// The writer slowed down: the writes paused, and the settled files were free
// to go. The next burst may begin once the compressor is done with all of
// them (a busy compressor would leave the next file staged whether or not
// the writes hold it back): false if it is not within 30 s.
bool compressed_after_a_pause(const fs::path& mnt, const fs::path& burst, const fs::path& first) {
  fs::remove_all(burst);
  for (const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
       std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (state_of(first) == "compressed" &&
        number(mnt, "user.sevenzfs.commit_pending_bytes") == number(mnt, "user.sevenzfs.commit_done_bytes")) {
      return true;
    }
  }
  return false;
}

// Watches `file`'s state for 1.5 s.
std::vector<std::string> states_for_a_while(const fs::path& file) {
  std::vector<std::string> seen;
  for (const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
       std::chrono::steady_clock::now() < end;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    seen.push_back(state_of(file));
  }
  return seen;
}

}  // namespace

// With writing_threads=0, settled files wait while writes go on and the pool
// has room (see sealer.hpp). Once the writes pause, they are compressed
// without a commit. A loaded machine may pause the writer (then the file was
// free to go): up to three bursts are tried, each removed before the next so
// that the pool stays under half full.
TEST_F(mount_fixture, WithNoWritingThreadsSettledFilesWaitWhileWritesGoOn) {
  auto daemon = mount("settle=0,pool_size=1G,level=1,writing_threads=0");
  for (int attempt = 0; attempt < 3; ++attempt) {
    const fs::path burst = mnt / fmt::format("burst{}", attempt);
    const fs::path first = mnt / fmt::format("first{}.txt", attempt);
    fs::create_directories(burst);
    // The writes go on from before the file is closed (for a few of the
    // queue's looks: the first one measures from the mount or from the last
    // burst) to the end, at most 128 MB/s (a 1 ms pause a file): under half
    // the pool in 1.8 s.
    steady_writer writer(burst, 128 << 10, std::chrono::milliseconds(1));
    std::this_thread::sleep_for(3 * kHoldTick);
    write_file(first, text_bytes(20'000, 1));
    const auto seen = states_for_a_while(first);
    writer.finish();
    if (!writer.stayed_busy()) {
      ASSERT_TRUE(compressed_after_a_pause(mnt, burst, first)) << state_of(first);
      std::printf("burst %d: the writer paused; trying again\n", attempt);
      continue;
    }
    for (const auto& state : seen) ASSERT_EQ(state, "staged") << "compressed while the writes went on";
    bool compressed = false;
    for (const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
         !compressed && std::chrono::steady_clock::now() < deadline;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      compressed = state_of(first) == "compressed";
    }
    EXPECT_TRUE(compressed) << "not compressed once the writes paused: " << state_of(first);
    EXPECT_EQ(xattr(mnt, "user.sevenzfs.commits_total"), "0");
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
    EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
    return;
  }
  GTEST_SKIP() << "the writer slowed down in each of three bursts: the writes paused";
}

// Writes that slow down under 10 MiB/s still go on down to 2 MiB/s
// (sealer.hpp): after a burst at about 128 MB/s, a writer at about 6 MB/s
// (32 KiB files, a 4 ms pause) holds a settled file back as the burst
// would have. Were 10 MiB/s the only rate, the file would be compressed
// beside the slower writes (a slowed copy letting a second worker in).
TEST_F(mount_fixture, WritesThatSlowDownStillHoldSettledFilesBack) {
  auto daemon = mount("settle=0,pool_size=1G,level=1,writing_threads=0");
  for (int attempt = 0; attempt < 3; ++attempt) {
    const fs::path burst = mnt / fmt::format("burst{}", attempt);
    const fs::path first = mnt / fmt::format("first{}.txt", attempt);
    fs::create_directories(burst / "fast");
    fs::create_directories(burst / "slow");
    steady_writer fast(burst / "fast", 128 << 10, std::chrono::milliseconds(1));
    std::this_thread::sleep_for(3 * kHoldTick);
    fast.finish();
    steady_writer slow(burst / "slow", 32 << 10, std::chrono::milliseconds(4));
    std::this_thread::sleep_for(3 * kHoldTick);
    write_file(first, text_bytes(20'000, 1));
    const auto seen = states_for_a_while(first);
    slow.finish();
    if (!fast.stayed_busy() || !slow.stayed_busy(kStillBusyBytes)) {
      ASSERT_TRUE(compressed_after_a_pause(mnt, burst, first)) << state_of(first);
      std::printf("burst %d: the writer paused; trying again\n", attempt);
      continue;
    }
    // On a machine where it outran 10 MiB/s, the test would not test the lower rate.
    ASSERT_LT(slow.bytes_per_second(), 10.0 * kBusyBytes) << "the slower writer was not slower";
    for (const auto& state : seen) ASSERT_EQ(state, "staged") << "compressed while the slower writes went on";
    EXPECT_TRUE(compressed_after_a_pause(mnt, burst, first)) << "not compressed once the writes paused";
    return;
  }
  GTEST_SKIP() << "the writer slowed down in each of three bursts: the writes paused";
}

// By default (two threads: one while writes go on), and with
// defer_while_writing=0 (all threads), they stream as they settle, writes or
// not. The writer goes slower than in the test above (1 MiB files, a 10 ms
// pause: about 50 MB/s, still busy by stayed_busy's measure, and half the
// pool takes over 10 s), so that what it wrote before the file is little
// for one level-1 thread. (It joins the burst's folder, whose parts fill:
// a file of an extension of its own would wait in a part partly filled
// until the writes pause.)
TEST_F(mount_fixture, SettledFilesStreamBesideTheWritesOnTheWritingThreads) {
  for (const std::string options : {"threads=2", "defer_while_writing=0"}) {
    SCOPED_TRACE(options);
    // The second mount appends to the first one's archive: its burst
    // rewrites files archived then, which changes nothing here.
    auto daemon = mount("settle=0,pool_size=1G,level=1," + options);
    fs::create_directories(mnt / "burst");
    steady_writer writer(mnt / "burst", 1 << 20, std::chrono::milliseconds(10));
    std::this_thread::sleep_for(3 * kHoldTick);
    write_file(mnt / "first.txt", text_bytes(20'000, 1));
    bool compressed = false;
    for (const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
         !compressed && std::chrono::steady_clock::now() < end;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      compressed = state_of(mnt / "first.txt") == "compressed";
    }
    writer.finish();
    // A writer that slowed down let it go whatever the option says.
    if (writer.stayed_busy()) {
      EXPECT_TRUE(compressed) << state_of(mnt / "first.txt");
    } else {
      std::printf("%s: the writer slowed down: the writes paused\n", options.c_str());
    }
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  }
}

// Past half the pool, settled files stream beside the writes, so that the
// writers never run into a full pool: 96 MiB through a 64 MiB pool, written
// fast enough to count as busy (up to 16 MB/s) and slower than level 1
// compresses.
TEST_F(mount_fixture, PastHalfThePoolSettledFilesStreamBesideTheWrites) {
  auto daemon = mount("settle=0,pool_size=64M,level=1");
  write_file(mnt / "first.txt", text_bytes(64'000, 1));
  fs::create_directories(mnt / "burst");
  bool compressed_while_writing = false;
  {
    steady_writer writer(mnt / "burst", 128 << 10, std::chrono::milliseconds(8));
    while (writer.files.load() < 96 * 8) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      compressed_while_writing = compressed_while_writing || state_of(mnt / "first.txt") == "compressed";
    }
    writer.finish();
  }
  EXPECT_TRUE(compressed_while_writing);
  // A writer that runs into a full pool makes room itself (and does not
  // always count as a wait): the high-water mark tells.
  const std::uint64_t pool = number(mnt, "user.sevenzfs.pool_bytes");
  const std::uint64_t high_water = number(mnt, "user.sevenzfs.pool_high_water_bytes");
  std::printf("pool high water %llu of %llu bytes\n", static_cast<unsigned long long>(high_water),
              static_cast<unsigned long long>(pool));
  EXPECT_LE(high_water, pool * 7 / 8) << "the writers filled the pool";
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.pool_waits_total"), "0") << "a writer waited for a full pool";
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.commits_total"), "0");
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
}

// At rest (idle_release after the idle flush, the compressor done), the
// daemon gives its idle encoders and free staging pages back: its RSS falls
// from hundreds of MiB (a level-5 encoder, the pool's touched pages) to
// what the tree and the libraries take. The files still read back.
TEST_F(mount_fixture, AtRestTheDaemonGivesItsIdleMemoryBack) {
  auto daemon = mount("settle=0,idle_release=1,pool_size=256M,level=5,threads=2");
  std::map<std::string, std::string> model;
  std::uint64_t total = 0;
  for (int i = 0; i < 16; ++i) {
    const std::string name = fmt::format("f{}.txt", i);
    model[name] = text_bytes(1'000'000 + i, i);
    total += model[name].size();
    write_file(mnt / name, model[name]);
  }
  ASSERT_TRUE(wait_compressed(mnt, total, std::chrono::seconds(120))) << daemon->log();
  const std::uint64_t busiest = memory_kib(daemon->pid(), "VmHWM");
  EXPECT_GT(busiest, std::uint64_t{150} << 10) << "the encoder and the pool took less than expected";
  std::uint64_t now = busiest;
  for (const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
       (now = memory_kib(daemon->pid(), "VmRSS")) > (std::uint64_t{64} << 10) &&
       std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_LE(now, std::uint64_t{64} << 10) << "KiB at rest, " << busiest << " KiB before";
  for (const auto& [name, bytes] : model) EXPECT_EQ(read_file(mnt / name), bytes) << name;
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  const auto tested = run("7zz t " + quote(archive.string()));
  EXPECT_EQ(tested.exit_code, 0) << tested.output;
}

// A commit's records (the new database and header, the taken folders, the
// sealed files' records) are freed among the tree's blocks, so the heap
// keeps their pages until the first rest after the commit trims it. The
// mount rests before the commit too: its encoders and free staging pages
// are gone by then, and only the trim can give anything back after it.
// With 30,000 files (anonymous memory): 35 MiB before the commit, 49 after
// it, 30 at rest; 49 at rest without the trim.
TEST_F(mount_fixture, AtRestTheHeapGivesBackWhatACommitOfManyFilesLeft) {
  auto daemon = mount("idle_release=1,pool_size=32M,mode=batched,level=1,threads=2");
  constexpr int kDirectories = 300;
  constexpr int kFilesEach = 100;
  std::uint64_t total = 0;
  for (int d = 0; d < kDirectories; ++d) {
    const auto directory = mnt / fmt::format("d{:03}", d);
    fs::create_directory(directory);
    for (int f = 0; f < kFilesEach; ++f) {
      const std::string bytes = fmt::format("{{\"object\": {}, \"shard\": {}}}\n", d * kFilesEach + f, d);
      write_file(directory / fmt::format("{:016x}.json", (d * kFilesEach + f) * 0x9e3779b97f4a7c15ull), bytes);
      total += bytes.size();
    }
  }
  ASSERT_TRUE(wait_compressed(mnt, total, std::chrono::seconds(120))) << daemon->log();
  // Rests come every second once the mount is idle: until anonymous memory
  // holds still for two of them, the first has not come.
  const auto anonymous = [&] { return memory_kib(daemon->pid(), "RssAnon"); };
  std::uint64_t before = anonymous();
  for (auto still = std::chrono::steady_clock::now(), deadline = still + std::chrono::seconds(30);
       std::chrono::steady_clock::now() - still < std::chrono::milliseconds(2500) &&
       std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    if (const auto now = anonymous(); now != before) {
      before = now;
      still = std::chrono::steady_clock::now();
    }
  }
  ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0) << std::strerror(errno);
  const std::uint64_t committed = anonymous();
  ASSERT_GE(committed, before + (std::uint64_t{2} << 10)) << "KiB; the commit left too little to measure";
  const std::uint64_t left = committed - before;
  std::uint64_t now = committed;
  for (const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
       (now = anonymous()) + left / 2 > committed && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::printf("daemon anonymous memory: %llu KiB before the commit, %llu KiB after it, %llu KiB at rest\n",
              static_cast<unsigned long long>(before), static_cast<unsigned long long>(committed),
              static_cast<unsigned long long>(now));
  EXPECT_LE(now + left / 2, committed) << "KiB at rest; " << before << " KiB before the commit";
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.commits_total"), "1");
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  const auto tested = run("7zz t " + quote(archive.string()));
  EXPECT_EQ(tested.exit_code, 0) << tested.output;
  EXPECT_NE(tested.output.find("Files: 30000"), std::string::npos) << tested.output;
}

// A log kept open and committed by fsync closes no file: once its writes
// slow to a trickle, the rest still comes and gives back the staging pages
// its commits freed (the log keeps only its last dictionary staged). The
// trickle here takes a few pool chunks a second.
TEST_F(mount_fixture, AtRestALogKeptOpenGivesBackWhatItsCommitsFreed) {
  auto daemon = mount("idle_release=1,pool_size=256M,level=1,threads=2");
  const int fd = ::open((mnt / "service.log").c_str(), O_CREAT | O_WRONLY | O_APPEND, 0644);
  ASSERT_GE(fd, 0);
  const std::string text = text_bytes(std::size_t{48} << 20, 7);
  for (std::size_t at = 0; at < text.size(); at += 1 << 20) {
    ASSERT_EQ(::write(fd, text.data() + at, 1 << 20), 1 << 20);
    if (at + (1 << 20) == text.size() / 2) {
      ASSERT_EQ(::fsync(fd), 0);
    }
  }
  ASSERT_EQ(::fsync(fd), 0);
  const std::uint64_t committed = memory_kib(daemon->pid(), "VmRSS");
  EXPECT_GT(committed, std::uint64_t{48} << 10) << "the pool's touched pages";
  std::uint64_t now = committed;
  std::string trickle;
  // At least 2.5 s of trickle, whatever the RSS: a look at rest may come
  // right after the commit, before the trickle took a chunk.
  const auto start = std::chrono::steady_clock::now();
  for (const auto deadline = start + std::chrono::seconds(15);
       ((now = memory_kib(daemon->pid(), "VmRSS")) + (std::uint64_t{32} << 10) > committed ||
        std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2500)) &&
       std::chrono::steady_clock::now() < deadline;) {
    const std::string line = text_bytes(8 << 10, 100 + (trickle.size() >> 13));
    ASSERT_EQ(::write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    trickle += line;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_LE(now + (std::uint64_t{32} << 10), committed) << "KiB at rest, " << committed << " KiB after the commit";
  EXPECT_GT(trickle.size(), std::size_t{64} << 10) << "the trickle took no pool chunk";
  ASSERT_EQ(::close(fd), 0);
  EXPECT_EQ(read_file(mnt / "service.log"), text + trickle);
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  const auto tested = run("7zz t " + quote(archive.string()));
  EXPECT_EQ(tested.exit_code, 0) << tested.output;
}
