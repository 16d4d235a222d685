// Large inputs through small staging pools, with the daemon's peak RSS
// bounded: 4 GiB through a 256 MiB pool, in one file (it spills to disk) and
// in many files (compressed as they are closed, in the order they reach the
// compressor); 500 MB of 10 KB files through a 128 MiB pool at level 5
// (issue 11's bound), and 128 MiB of mixed files through a 32 MiB pool in
// few solid folders, then read back; 100,000 tiny files, batched, within their per-file
// bound. Slow: labelled "slow" (ctest starts these first).
#include "daemon_process.hpp"
#include "mount_fixture.hpp"
#include "sample_bytes.hpp"
#include "test_support.hpp"

#include <fmt/format.h>

#include <gtest/gtest.h>

#include <sys/xattr.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>

namespace fs = std::filesystem;
using namespace sevenzfs::test;

namespace {

// Writes `mib` MiB of compressible, position-dependent text to stdout.
const std::string kGenerator =
    "import sys\n"
    "out = sys.stdout.buffer\n"
    "for block in range(int(sys.argv[1])):\n"
    "    line = ('block %08d ' % block).encode() + b'x' * 48 + b'\\n'  # 64 bytes\n"
    "    out.write(line * (1048576 // 64))\n";

std::string generate(int mib) { return "/usr/bin/python3 -c " + quote(kGenerator) + " " + std::to_string(mib); }

// `7zz t` passes on `archive` and counts `files` files.
void expect_tested_with_files(const fs::path& archive, int files) {
  const auto tested = run("7zz t " + quote(archive.string()));
  ASSERT_EQ(tested.exit_code, 0) << tested.output;
  EXPECT_NE(tested.output.find("Files: " + std::to_string(files)), std::string::npos) << tested.output;
}

// "NAME CRC" lines, sorted, of the generator's output cut into 4 MiB files
// named as `split -b 4M -d -a 4 - part` names them.
const std::string kChunkCrcs =
    "import sys, zlib\n"
    "data = sys.stdin.buffer\n"
    "n = 0\n"
    "while True:\n"
    "    chunk = data.read(4 << 20)\n"
    "    if not chunk: break\n"
    "    print('many/part%04d %08X' % (n, zlib.crc32(chunk)))\n"
    "    n += 1\n";

}  // namespace

TEST(DaemonLarge, FourGiBThroughASmallPoolInOneFileAndInMany) {
  if (const auto why = why_mounts_cannot_work()) GTEST_SKIP() << *why;
  temp_dir dir;
  const auto archive = dir / "big.7z";
  const auto mnt = dir / "mnt";
  fs::create_directories(mnt);
  daemon_process daemon(archive, mnt, "pool_size=256M,level=1,threads=2", dir / "daemon.log");
  ASSERT_TRUE(daemon.wait_mounted()) << daemon.log();

  const auto one = run(generate(4096) + " > " + quote((mnt / "one.log").string()));
  ASSERT_EQ(one.exit_code, 0) << one.output << daemon.log();
  fs::create_directories(mnt / "many");
  const auto many =
      run("cd " + quote((mnt / "many").string()) + " && " + generate(4096) + " | split -b 4M -d -a 4 - part");
  ASSERT_EQ(many.exit_code, 0) << many.output << daemon.log();
  EXPECT_EQ(fs::file_size(mnt / "one.log"), 4ull << 30);

  ASSERT_EQ(daemon.unmount_and_wait(), 0) << daemon.log();
  // Over the daemon's whole life, the final commit included.
  const auto rss = daemon.peak_rss_kib();
  ASSERT_TRUE(rss.has_value()) << "the daemon's peak RSS could not be measured";
  RecordProperty("daemon_peak_rss_kib", std::to_string(*rss));
  std::printf("daemon peak RSS: %llu MiB for 8 GiB through a 256 MiB pool\n",
              static_cast<unsigned long long>(*rss / 1024));
  EXPECT_LT(*rss, 768u * 1024) << "peak RSS " << *rss << " KiB with a 256 MiB pool";

  ASSERT_NO_FATAL_FAILURE(expect_tested_with_files(archive, 1025));
  // Byte for byte against the generator, without a 4 GiB copy on disk.
  const auto same = [&](const std::string& members) {
    return run("bash -c " +
               quote("cmp <(7zz e -so " + archive.string() + " " + members + ") <(" + generate(4096) + ")"));
  };
  const auto one_compared = same("one.log");
  EXPECT_EQ(one_compared.exit_code, 0) << one_compared.output;
  // The many files are in the archive in the order they reached the
  // compressor, not by name: each one's stored CRC (which 7zz t checked
  // against its data) must be the CRC of its piece of the generator's output.
  const auto stored = run("7zz l -slt " + quote(archive.string()) +
                          " | awk '/^Path = many\\//{p=$3} /^CRC = /{if (p) print p, $3; p=\"\"}' | sort");
  const auto wanted = run(generate(4096) + " | /usr/bin/python3 -c " + quote(kChunkCrcs));
  EXPECT_EQ(stored.output, wanted.output);
  EXPECT_EQ(std::count(stored.output.begin(), stored.output.end(), '\n'), 1024);
}

namespace {

// Writes `files` files of `lines` lines (136: about 10 KB) into the current
// directory, laid out and named as a blob cache's
// (cache/pNN/qMM/<16 hex digits>.json or .log, 100 files a directory: the
// names are what the tree and the commit's databases hold per file): lines
// of about 75 bytes drawn from a set of 3,000, so that they compress about
// as much as a blob cache's objects (20-30x), and fast.
const std::string kSmallFiles =
    "import os, random, sys\n"
    "rng = random.Random(7)\n"
    "lines = [('{\"id\": %d, \"v\": \"%s\"}\\n' % (rng.randrange(10**9), rng.randbytes(24).hex())).encode()\n"
    "         for _ in range(3000)]\n"
    "for i in range(int(sys.argv[1])):\n"
    "    d = 'cache/p%02d/q%02d' % (i // 10000, (i // 100) % 100)\n"
    "    os.makedirs(d, exist_ok=True)\n"
    "    name = '%016x.%s' % (rng.getrandbits(64), 'json' if i % 4 else 'log')\n"
    "    with open(d + '/' + name, 'wb') as f:\n"
    "        f.write(b''.join(rng.choices(lines, k=int(sys.argv[2]))))\n";

std::string write_small_files(int files, int lines) {
  return "/usr/bin/python3 -c " + quote(kSmallFiles) + " " + std::to_string(files) + " " + std::to_string(lines);
}

}  // namespace

// Issue 11's bound with a small pool, on its own case: 300 MiB of small
// files (31,500 of about 10 KB, named as the benchmark's blob cache; 50,000
// took 225 s of the CI's 30 minutes) through pool_size=128M, solid, level 5,
// two threads, keep the daemon's peak RSS within the pool, two encoders
// (185 MiB each with a 16 MiB dictionary) and 96 MiB. The copy outruns the
// compressor, so the pool fills and parts are primed (their primers are
// memory this bounds). The final commit holds the tree and its databases
// (about 1 KB a file): the idle encoders must have let go of theirs by then.
TEST(DaemonLarge, SmallFilesThroughASmallPoolStayWithinTheMemoryBound) {
  if (const auto why = why_mounts_cannot_work()) GTEST_SKIP() << *why;
  temp_dir dir;
  const auto archive = dir / "small.7z";
  const auto mnt = dir / "mnt";
  fs::create_directories(mnt);
  daemon_process daemon(archive, mnt, "pool_size=128M,mode=solid,level=5,threads=2", dir / "daemon.log");
  ASSERT_TRUE(daemon.wait_mounted()) << daemon.log();
  constexpr int kFiles = 31'500;
  const auto wrote = run("cd " + quote(mnt.string()) + " && " + write_small_files(kFiles, 136));
  ASSERT_EQ(wrote.exit_code, 0) << wrote.output << daemon.log();
  ASSERT_EQ(daemon.unmount_and_wait(), 0) << daemon.log();
  const auto rss = daemon.peak_rss_kib();
  ASSERT_TRUE(rss.has_value()) << "the daemon's peak RSS could not be measured";
  std::printf("daemon peak RSS: %llu MiB for 300 MiB of 10 KB files through a 128 MiB pool\n",
              static_cast<unsigned long long>(*rss / 1024));
  EXPECT_LE(*rss, (128u + 2 * 185 + 96) * 1024) << daemon.log();
  // What the bound is about happened: parts taken by the other worker were
  // primed, and the final commit found the encoders idle and let them go
  // (the bound's margin is small: a few percent of RSS either way).
  std::smatch primed;
  const std::string log = daemon.log();
  ASSERT_TRUE(std::regex_search(log, primed, std::regex(R"(continued a stream, (\d+) primed)"))) << log;
  EXPECT_GT(std::stoul(primed[1].str()), 0u) << log;
  std::smatch released;
  ASSERT_TRUE(std::regex_search(log, released, std::regex(R"(released the memory of (\d+) idle compressor encoders)")))
      << log;
  EXPECT_EQ(released[1].str(), "2") << log;
  expect_tested_with_files(archive, kFiles);
}

namespace {

struct large_mount : mount_fixture {};

}  // namespace

TEST_F(large_mount, MemoryStaysBoundedForInputManyTimesThePoolAndWhileItIsReadBack) {
  // 128 MiB through a 32 MiB pool, level 5, two threads: the bound is issue
  // 11's, the pool + 2 x an encoder (185 MiB at level 5) + 96 MiB, which
  // must also hold the primers each worker hands to the next part of its
  // folder (16 MiB). Measured 471 MiB against 498 once streaming parts were
  // sized by the pool and freed buffers went back to the kernel (501-508
  // before); 417 MiB once parts too short to pay for a primer (5.3 MiB here)
  // waited for the stream they continue (and 75 s instead of 205 s). The
  // input must exceed the bound's 96 MiB, or a daemon that kept all of it
  // would pass.
  //
  // Then everything is read back (committed, so decoded from the archive):
  // reading adds at most the block cache (8 MiB here) and the decoders kept
  // for later reads (256 MiB at most), as the README's bound says; the
  // encoders are still there, as a reader may come before idle_release.
  auto daemon = mount("pool_size=32M,cache_size=8M,level=5,threads=2,settle=0.1");
  const auto content = [](int dir_index, int i) {
    const std::size_t size = 16'384 + static_cast<std::size_t>(i) * 1'024;
    return i % 4 == 0 ? random_bytes(size, dir_index * 64 + i) : text_bytes(size, dir_index * 64 + i);
  };
  const auto name = [](int dir_index, int i) {
    return fs::path(fmt::format("d{}", dir_index)) / (std::to_string(i) + (i % 4 == 0 ? ".bin" : ".txt"));
  };
  std::uint64_t written = 0;
  int directories = 0;
  for (; written < (128u << 20); ++directories) {
    fs::create_directories(mnt / name(directories, 0).parent_path());
    for (int i = 0; i < 64; ++i) {
      const std::string bytes = content(directories, i);
      write_file(mnt / name(directories, i), bytes);
      written += bytes.size();
    }
  }
  ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0), 0) << std::strerror(errno);
  const std::uint64_t written_peak_kib = memory_kib(daemon->pid(), "VmHWM");
  int differing = 0;
  for (int dir_index = 0; dir_index < directories; ++dir_index) {
    for (int i = 0; i < 64; ++i) differing += read_file(mnt / name(dir_index, i)) != content(dir_index, i) ? 1 : 0;
  }
  EXPECT_EQ(differing, 0) << "files read back wrong";
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  ASSERT_TRUE(daemon->peak_rss_kib()) << "the daemon's peak memory could not be read";
  const std::uint64_t bound_kib = (32u + 2 * 185 + 96) << 10;
  const std::uint64_t read_bound_kib = bound_kib + ((8u + 256) << 10);
  std::printf("daemon peak RSS %llu MiB for %llu MiB written (bound %llu MiB), %llu MiB once read back (bound %llu)\n",
              static_cast<unsigned long long>(written_peak_kib >> 10), static_cast<unsigned long long>(written >> 20),
              static_cast<unsigned long long>(bound_kib >> 10),
              static_cast<unsigned long long>(*daemon->peak_rss_kib() >> 10),
              static_cast<unsigned long long>(read_bound_kib >> 10));
  EXPECT_LE(written_peak_kib, bound_kib);
  EXPECT_LE(*daemon->peak_rss_kib(), read_bound_kib);
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  // Solid folders per extension and solid block, not per pool's worth.
  const auto listing = run("7zz l -slt " + quote(archive.string())).output;
  const auto blocks = listing.find("Blocks = ");
  ASSERT_NE(blocks, std::string::npos);
  EXPECT_LE(std::stoul(listing.substr(blocks + 9)), 4u) << listing.substr(blocks, 20);
}

// Many tiny files, batched (a folder each), through a small pool: then what
// the daemon holds per file bounds its memory — the inode and its directory
// entry, the file's sealed bytes and pending folder, and at the final commit
// the taken folders, the new database and its header. The commit lets go of
// its request's copy of every path and folder before it writes the header.
// 100,000 files of about 75 bytes through a 32 MiB pool peaked at 261 MiB
// before that, 240 MiB after (2.5 KB a file, the daemon's fixed memory
// included; 7-Zip holds about 1.3 KB a file for a million such files).
TEST(DaemonLarge, TinyFilesBatchedStayWithinTheirPerFileBound) {
  if (const auto why = why_mounts_cannot_work()) GTEST_SKIP() << *why;
  temp_dir dir;
  const auto archive = dir / "tiny.7z";
  const auto mnt = dir / "mnt";
  fs::create_directories(mnt);
  daemon_process daemon(archive, mnt, "pool_size=32M,mode=batched,level=5,threads=2", dir / "daemon.log");
  ASSERT_TRUE(daemon.wait_mounted()) << daemon.log();
  constexpr int kFiles = 100'000;
  const auto wrote = run("cd " + quote(mnt.string()) + " && " + write_small_files(kFiles, 1));
  ASSERT_EQ(wrote.exit_code, 0) << wrote.output << daemon.log();
  ASSERT_EQ(daemon.unmount_and_wait(), 0) << daemon.log();
  const auto rss = daemon.peak_rss_kib();
  ASSERT_TRUE(rss.has_value()) << "the daemon's peak RSS could not be measured";
  std::printf("daemon peak RSS: %llu MiB for %d files of about 75 bytes, batched\n",
              static_cast<unsigned long long>(*rss / 1024), kFiles);
  EXPECT_LE(*rss, 250u * 1024) << daemon.log();
  ASSERT_NO_FATAL_FAILURE(expect_tested_with_files(archive, kFiles));

  // One more file after a remount: the commit names every archived file it
  // keeps, and those shown as archived carry no entry. 200 MiB before, 185
  // after (the archive's database, the tree and the new database remain).
  daemon_process again(archive, mnt, "pool_size=32M,mode=batched,level=5,threads=2", dir / "again.log");
  ASSERT_TRUE(again.wait_mounted()) << again.log();
  ASSERT_EQ(run("echo hello > " + quote((mnt / "one-more.txt").string())).exit_code, 0) << again.log();
  ASSERT_EQ(again.unmount_and_wait(), 0) << again.log();
  const auto rss_again = again.peak_rss_kib();
  ASSERT_TRUE(rss_again.has_value()) << "the daemon's peak RSS could not be measured";
  std::printf("daemon peak RSS: %llu MiB for one more file after a remount\n",
              static_cast<unsigned long long>(*rss_again / 1024));
  EXPECT_LE(*rss_again, 195u * 1024) << again.log();
  expect_tested_with_files(archive, kFiles + 1);
}
