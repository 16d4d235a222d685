// 4 GiB through a 256 MiB staging pool, in one file (it spills to disk) and
// in many files (compressed as they are closed, in the order they reach the
// compressor), with the daemon's peak
// RSS bounded. Slow: labelled "slow".
#include "daemon_process.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

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

  const auto tested = run("7zz t " + quote(archive.string()));
  ASSERT_EQ(tested.exit_code, 0) << tested.output;
  EXPECT_NE(tested.output.find("Files: 1025"), std::string::npos) << tested.output;
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
