// Archives made by 7zz (solid and not, levels 1/5/9 over a tree with ELF
// executables so that BCJ and BCJ2 appear, every branch filter forced over
// real code of its architecture, LZMA, Copy), py7zr, bsdtar and
// sevenzfs-pack, read back through cached_reader byte for byte against the
// source: in folder order, in random order, at random offsets and lengths,
// and from several threads at once. Damage is detected; methods that cannot
// be decoded are reported before reading.
#include "archive/archive_error.hpp"
#include "archive/archive_reader.hpp"
#include "archive/cached_reader.hpp"
#include "archive/file_io.hpp"
#include "archive/lzma2_chunks.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace sevenzfs::archive;
using namespace sevenzfs::test;
using bytes = std::vector<std::uint8_t>;

namespace {

bytes file_bytes(const fs::path& path) {
  const auto text = read_file(path);
  return {text.begin(), text.end()};
}

void copy_into(const fs::path& from, const fs::path& to) {
  ASSERT_TRUE(fs::exists(from)) << from << " is missing: run tools/install-deps.sh";
  fs::create_directories(to.parent_path());
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

// Text of many sizes, a multi-block log, random bytes, x86-64 executables.
void make_tree(const fs::path& root) {
  std::mt19937 rng(11);
  const char* words[] = {"archive ", "folder ", "stream ", "decoder ", "block\n", "cache ", "7z ", "{\"n\": 1}\n"};
  const auto text = [&](std::size_t size) {
    std::string s;
    while (s.size() < size) s += words[rng() % 8];
    s.resize(size);
    return s;
  };
  fs::create_directories(root / "text/deeper");
  fs::create_directories(root / "empty-dir");
  write_file(root / "text/empty.txt", "");
  write_file(root / "text/one.txt", "1");
  for (int i = 0; i < 40; ++i) {
    const auto name = std::to_string(i) + ".txt";
    write_file(root / (i % 3 == 0 ? "text/deeper" : "text") / name, text(static_cast<std::size_t>(rng() % 40'000)));
  }
  write_file(root / "big.log", text(2'600'000));
  std::string noise(300'000, '\0');
  for (auto& c : noise) c = static_cast<char>(rng());
  write_file(root / "random.bin", noise);
  for (const char* exe : {"ls", "cp", "mv"}) copy_into(fs::path("/usr/bin") / exe, root / "bin" / exe);
}

struct reference {
  std::uint64_t substream;
  bytes content;
};

// Every substream of `archive` with the source file it came from (under
// `base`, by its archive name).
std::vector<reference> references(const archive_snapshot& snapshot, const fs::path& base) {
  std::vector<reference> refs;
  for (std::uint64_t s = 0; s < snapshot.substream_count(); ++s) {
    refs.push_back({s, file_bytes(base / snapshot.substream_name(s))});
  }
  return refs;
}

bytes read_whole(cached_reader& reader, const archive_snapshot& snapshot, std::uint64_t substream, std::size_t chunk) {
  bytes out(snapshot.substream(substream).size);
  for (std::size_t at = 0; at < out.size();) {
    const auto n = reader.read(snapshot, substream, at, std::span(out).subspan(at, std::min(chunk, out.size() - at)));
    if (n == 0) break;
    at += n;
  }
  return out;
}

void check_reads(const fs::path& archive, const fs::path& base) {
  SCOPED_TRACE(archive.filename().string());
  const auto snapshot = archive_snapshot::open(archive.string());
  ASSERT_GT(snapshot->substream_count(), 0u);
  const auto refs = references(*snapshot, base);
  for (const auto& ref : refs) {
    ASSERT_EQ(snapshot->unsupported_method(ref.substream), std::nullopt);
    ASSERT_EQ(snapshot->substream(ref.substream).size, ref.content.size()) << snapshot->substream_name(ref.substream);
  }
  // Folder order, 64 KiB reads.
  {
    cached_reader reader;
    for (const auto& ref : refs) {
      ASSERT_EQ(read_whole(reader, *snapshot, ref.substream, 64 << 10), ref.content)
          << snapshot->substream_name(ref.substream);
    }
  }
  for (const auto& ref : refs) {
    if (snapshot->database().substream_crcs[ref.substream]) {
      EXPECT_EQ(snapshot->verdict(ref.substream), archive_snapshot::crc_verdict::good);
    }
  }
  std::mt19937 rng(7);
  // Random order, uneven reads, a cache smaller than the data.
  {
    cached_reader reader({.cache_bytes = 1 << 20, .block_size = 64 << 10, .decoders = {}});
    auto order = refs;
    std::shuffle(order.begin(), order.end(), rng);
    for (const auto& ref : order) {
      ASSERT_EQ(read_whole(reader, *snapshot, ref.substream, 1 + rng() % 70'000), ref.content);
    }
  }
  // Random offsets and lengths.
  {
    cached_reader reader({.cache_bytes = 2 << 20, .block_size = 128 << 10, .decoders = {}});
    for (int i = 0; i < 150; ++i) {
      const auto& ref = refs[rng() % refs.size()];
      const std::size_t offset = rng() % (ref.content.size() + 1);
      bytes out(rng() % 100'000);
      const auto n = reader.read(*snapshot, ref.substream, offset, out);
      ASSERT_EQ(n, std::min(out.size(), ref.content.size() - offset));
      ASSERT_TRUE(std::equal(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n),
                             ref.content.begin() + static_cast<std::ptrdiff_t>(offset)));
    }
  }
  // Several threads at once, sharing one reader.
  cached_reader shared({.cache_bytes = 4 << 20, .block_size = 256 << 10, .decoders = {}});
  std::atomic<int> mismatches{0};
  {
    std::vector<std::jthread> threads;
    for (unsigned t = 0; t < 3; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 local(t);
        auto order = refs;
        std::shuffle(order.begin(), order.end(), local);
        for (const auto& ref : order) {
          if (read_whole(shared, *snapshot, ref.substream, 1 + local() % 200'000) != ref.content) ++mismatches;
        }
      });
    }
  }
  EXPECT_EQ(mismatches.load(), 0);
}

// The Method lines of `7zz l -slt`.
std::string methods_of(const fs::path& archive) {
  const auto listed = run("7zz l -slt " + quote(archive.string()));
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  std::string methods;
  std::istringstream lines(listed.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("Method = ")) methods += line.substr(9) + "\n";
  }
  return methods;
}

void seven_zip(const fs::path& dir, const std::string& archive, const std::string& options, const std::string& what) {
  const auto made =
      run("cd " + quote(dir.string()) + " && 7zz a -bd -y " + options + " " + quote(archive) + " " + what);
  ASSERT_EQ(made.exit_code, 0) << made.output;
}

class ReadInterop : public ::testing::Test {
 protected:
  void SetUp() override { make_tree(dir_ / "tree"); }
  fs::path archive(const std::string& name) const { return dir_ / name; }
  temp_dir dir_;
};

}  // namespace

TEST_F(ReadInterop, SevenZipSolidAtLevels1And5And9) {
  for (const std::string level : {"1", "5", "9"}) {
    const std::string name = "solid" + level + ".7z";
    seven_zip(dir_.path(), name, "-ms=on -mx" + level, "tree");
    const auto methods = methods_of(archive(name));
    if (level == "5") {
      EXPECT_NE(methods.find("BCJ LZMA2"), std::string::npos) << methods;
    }
    if (level == "9") {
      EXPECT_NE(methods.find("BCJ2"), std::string::npos) << methods;
    }
    check_reads(archive(name), dir_.path());
  }
}

TEST_F(ReadInterop, SevenZipNonSolid) {
  seven_zip(dir_.path(), "batched.7z", "-ms=off -mx5", "tree");
  EXPECT_NE(methods_of(archive("batched.7z")).find("BCJ"), std::string::npos);
  check_reads(archive("batched.7z"), dir_.path());
  seven_zip(dir_.path(), "batched9.7z", "-ms=off -mx9", "tree/bin");
  EXPECT_NE(methods_of(archive("batched9.7z")).find("BCJ2"), std::string::npos);
  check_reads(archive("batched9.7z"), dir_.path());
}

TEST_F(ReadInterop, SevenZipLzmaAndCopy) {
  seven_zip(dir_.path(), "lzma.7z", "-m0=LZMA", "tree");
  EXPECT_NE(methods_of(archive("lzma.7z")).find("LZMA:"), std::string::npos);
  check_reads(archive("lzma.7z"), dir_.path());
  seven_zip(dir_.path(), "copy.7z", "-mx0", "tree");
  EXPECT_NE(methods_of(archive("copy.7z")).find("Copy"), std::string::npos);
  check_reads(archive("copy.7z"), dir_.path());
}

TEST_F(ReadInterop, SevenZipForcedFiltersOverRealCode) {
  // Each filter over the C library of its own architecture (Debian's cross
  // packages), so that it converts thousands of instructions.
  const std::vector<std::pair<std::string, std::string>> filters{{"ARM64", "/usr/aarch64-linux-gnu/lib/libc.so.6"},
                                                                 {"ARM", "/usr/arm-linux-gnueabihf/lib/libc.so.6"},
                                                                 {"ARMT", "/usr/arm-linux-gnueabihf/lib/libc.so.6"},
                                                                 {"PPC", "/usr/powerpc-linux-gnu/lib/libc.so.6"},
                                                                 {"SPARC", "/usr/sparc64-linux-gnu/lib/libc.so.6"},
                                                                 {"IA64", "/usr/bin/ls"},
                                                                 {"RISCV", "/usr/riscv64-linux-gnu/lib/libc.so.6"},
                                                                 {"BCJ", "/usr/bin/ls"},
                                                                 {"BCJ2", "/usr/bin/ls"},
                                                                 {"Delta:4", "/usr/bin/cp"}};
  for (const auto& [filter, code] : filters) {
    SCOPED_TRACE(filter);
    const auto base = dir_ / ("f-" + filter.substr(0, filter.find(':')));
    copy_into(code, base / "code" / "lib.so");
    write_file(base / "code" / "note.txt", "a text file in the same folder\n");
    for (const std::string chain : {" -m1=LZMA2", ""}) {
      const std::string name = "filter" + chain + ".7z";
      seven_zip(base, name, "-m0=" + filter + chain, "code");
      const auto methods = methods_of(base / name);
      EXPECT_NE(methods.find(filter), std::string::npos) << methods;
      check_reads(base / name, base);
    }
  }
}

TEST_F(ReadInterop, Py7zr) {
  const std::string script =
      "import py7zr, sys\n"
      "with py7zr.SevenZipFile(sys.argv[1] + '/py-default.7z', 'w') as a: a.writeall(sys.argv[1] + '/tree', 'tree')\n"
      "f = [{'id': py7zr.FILTER_X86}, {'id': py7zr.FILTER_LZMA2, 'preset': 7}]\n"
      "with py7zr.SevenZipFile(sys.argv[1] + '/py-bcj.7z', 'w', filters=f) as a: a.writeall(sys.argv[1] + '/tree/bin', "
      "'bin')\n"
      "f = [{'id': py7zr.FILTER_DELTA}, {'id': py7zr.FILTER_LZMA}]\n"
      "with py7zr.SevenZipFile(sys.argv[1] + '/py-delta.7z', 'w', filters=f) as a: a.writeall(sys.argv[1] + "
      "'/tree/text', 'text')\n";
  const auto made = run("/usr/bin/python3 -c " + quote(script) + " " + quote(dir_.path().string()));
  ASSERT_EQ(made.exit_code, 0) << made.output;
  EXPECT_NE(methods_of(archive("py-default.7z")).find("BCJ"), std::string::npos);
  check_reads(archive("py-default.7z"), dir_.path());
  check_reads(archive("py-bcj.7z"), dir_ / "tree");
  check_reads(archive("py-delta.7z"), dir_ / "tree");
}

TEST_F(ReadInterop, BsdtarAndItsUnsupportedMethods) {
  for (const std::string compression : {"store", "lzma1", "lzma2", "deflate", "bzip2", "ppmd"}) {
    SCOPED_TRACE(compression);
    const std::string name = "bsdtar-" + compression + ".7z";
    const bool supported = compression == "store" || compression.starts_with("lzma");
    const auto made =
        run("cd " + quote(dir_.path().string()) + " && bsdtar --format 7zip --options 7zip:compression=" + compression +
            " -cf " + name + (supported ? " tree" : " tree/text"));
    ASSERT_EQ(made.exit_code, 0) << made.output;
    if (supported) {
      check_reads(archive(name), dir_.path());
      continue;
    }
    const auto snapshot = archive_snapshot::open(archive(name).string());
    const std::string expected = compression == "deflate" ? "Deflate" : compression == "bzip2" ? "BZip2" : "PPMD";
    ASSERT_GT(snapshot->substream_count(), 0u);
    cached_reader reader;
    for (std::uint64_t s = 0; s < snapshot->substream_count(); ++s) {
      EXPECT_EQ(snapshot->unsupported_method(s), expected);
      bytes out(16);
      try {
        reader.read(*snapshot, s, 0, out);
        ADD_FAILURE() << "read an unsupported method";
      } catch (const archive_error& error) {
        EXPECT_EQ(error.kind(), error_kind::unsupported);
        EXPECT_NE(std::string(error.what()).find(expected), std::string::npos) << error.what();
      }
    }
    EXPECT_EQ(reader.stats().bytes_decoded, 0u);
  }
}

TEST_F(ReadInterop, SevenzfsPack) {
  for (const std::string mode : {"solid", "batched", "hybrid"}) {
    const auto path = archive("pack-" + mode + ".7z");
    const auto made = run(quote(pack_binary()) + " --mode " + mode + " --threads 2 " + quote(path.string()) + " " +
                          quote((dir_ / "tree").string()));
    ASSERT_EQ(made.exit_code, 0) << made.output;
    check_reads(path, dir_.path());
  }
}

TEST_F(ReadInterop, DamageIsDetectedAndRemembered) {
  for (const std::string level : {"0", "5"}) {
    SCOPED_TRACE(level);
    const std::string name = "damaged" + level + ".7z";
    seven_zip(dir_.path(), name, "-ms=on -mx" + level, "tree/text tree/big.log");
    const auto layout = read_archive(archive(name).string());
    {
      const unique_fd fd(::open(archive(name).c_str(), O_RDWR | O_CLOEXEC));
      std::uint8_t byte = 0;
      const std::uint64_t at = 32 + layout.db.pack_position + layout.db.pack_sizes[0] / 2;
      read_at(fd.get(), at, std::span(&byte, 1), name);
      byte ^= 0x04;
      write_at(fd.get(), at, std::span(&byte, 1), name);
    }
    const auto snapshot = archive_snapshot::open(archive(name).string());
    cached_reader reader;
    std::vector<std::uint64_t> failed;
    for (std::uint64_t s = 0; s < snapshot->substream_count(); ++s) {
      try {
        read_whole(reader, *snapshot, s, 64 << 10);
      } catch (const archive_error& error) {
        EXPECT_EQ(error.kind(), error_kind::corrupt_archive) << error.what();
        EXPECT_NE(std::string(error.what()).find(snapshot->substream_name(s)), std::string::npos) << error.what();
        failed.push_back(s);
      }
    }
    ASSERT_FALSE(failed.empty());
    // Stored data: exactly the one file holding the byte fails its CRC.
    if (level == "0") {
      EXPECT_EQ(failed.size(), 1u);
    }
    bytes out(1);
    EXPECT_THROW(reader.read(*snapshot, failed.front(), 0, out), archive_error);
  }
}

// 7-Zip's multithreaded LZMA2 encoder resets the dictionary at every block
// (c=1m: each MiB of input). A read far into such a file decodes from the
// last reset before it, not from the file's start; a sequential read still
// checks the CRC. Damage before the reset is not seen by that read, and is
// remembered once a read from the start meets it.
TEST_F(ReadInterop, AReadFarIntoAMultithreadedStreamStartsAtItsLastReset) {
  std::mt19937 rng(5);
  std::string text;
  while (text.size() < 6'000'000) text += "line " + std::to_string(rng() % 100'000) + " of the service log\n";
  text.resize(6'000'000);
  write_file(dir_ / "log.txt", text);
  seven_zip(dir_.path(), "mt.7z", "-m0=lzma2:d=1m:c=1m -mmt=4 -mx=5", "log.txt");
  const bytes content(text.begin(), text.end());
  const std::uint64_t block = 1 << 20;

  const auto snapshot = archive_snapshot::open(archive("mt.7z").string());
  ASSERT_EQ(snapshot->substream_count(), 1u);
  cached_reader reader({.cache_bytes = 64 << 20, .block_size = block, .decoders = {}});
  bytes tail(30);
  ASSERT_EQ(reader.read(*snapshot, 0, content.size() - 30, tail), 30u);
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), content.end() - 30));
  // Decoded: the last block alone (the reset at 5 MiB begins it).
  EXPECT_EQ(reader.stats().bytes_decoded, content.size() - 5 * block);
  bytes middle(100);
  ASSERT_EQ(reader.read(*snapshot, 0, 2 * block + block / 2, middle), 100u);
  EXPECT_TRUE(std::equal(middle.begin(), middle.end(), content.begin() + 2 * block + block / 2));
  EXPECT_EQ(reader.stats().bytes_decoded, content.size() - 4 * block);
  EXPECT_EQ(snapshot->verdict(0), archive_snapshot::crc_verdict::unchecked) << "no decoder saw the file whole";
  // Blocks that do not line up with the resets: the decoder starts at the
  // reset at 5 MiB and decodes on to the block boundary after it.
  cached_reader unaligned({.cache_bytes = 64 << 20, .block_size = 768 << 10, .decoders = {}});
  ASSERT_EQ(unaligned.read(*snapshot, 0, content.size() - 30, tail), 30u);
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), content.end() - 30));
  EXPECT_EQ(unaligned.stats().bytes_decoded, content.size() - 5 * block);
  ASSERT_EQ(unaligned.read(*snapshot, 0, 2 * block + block / 2, middle), 100u);
  EXPECT_TRUE(std::equal(middle.begin(), middle.end(), content.begin() + 2 * block + block / 2));

  cached_reader sequential({.cache_bytes = 64 << 20, .block_size = block, .decoders = {}});
  EXPECT_EQ(read_whole(sequential, *snapshot, 0, 64 << 10), content);
  EXPECT_EQ(sequential.stats().bytes_decoded, content.size());
  EXPECT_EQ(sequential.stats().decoders_created, 1u) << "the decoder from the start goes on past every reset";
  EXPECT_EQ(sequential.stats().chunk_walks, 0u) << "a sequential read needs no entry points";
  EXPECT_EQ(reader.stats().chunk_walks, 1u) << "walked once for both reads";
  EXPECT_EQ(snapshot->verdict(0), archive_snapshot::crc_verdict::good);

  const auto layout = read_archive(archive("mt.7z").string());
  {
    const unique_fd fd(::open(archive("mt.7z").c_str(), O_RDWR | O_CLOEXEC));
    std::uint8_t byte = 0;
    const std::uint64_t at = 32 + layout.db.pack_position + 1000;  // inside the first MiB's chunks
    read_at(fd.get(), at, std::span(&byte, 1), "mt.7z");
    byte ^= 0x04;
    write_at(fd.get(), at, std::span(&byte, 1), "mt.7z");
  }
  const auto damaged = archive_snapshot::open(archive("mt.7z").string());
  cached_reader after({.cache_bytes = 64 << 20, .block_size = block, .decoders = {}});
  ASSERT_EQ(after.read(*damaged, 0, content.size() - 30, tail), 30u);
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), content.end() - 30));
  EXPECT_THROW(read_whole(after, *damaged, 0, 64 << 10), archive_error);
  EXPECT_THROW(after.read(*damaged, 0, content.size() - 30, tail), archive_error) << "the file is known damaged";
}

// In a solid folder with resets, a decoder starting at a reset checks the
// files that begin after it and not the one it starts inside; read last
// first, files are found good, none wrongly bad; every read still matches.
TEST_F(ReadInterop, FilesAfterAResetOfASolidFolderAreCheckedFromIt) {
  seven_zip(dir_.path(), "solid-mt.7z", "-ms=on -m0=lzma2:d=1m:c=1m -mmt=4", "tree/text tree/big.log");
  const auto snapshot = archive_snapshot::open(archive("solid-mt.7z").string());
  ASSERT_EQ(snapshot->database().folders.size(), 1u);
  const auto refs = references(*snapshot, dir_.path());
  const auto& pack = snapshot->folder(0).packs.front();
  const auto chunks = walk_lzma2_chunks(snapshot->fd(), {pack.offset, pack.size});
  ASSERT_TRUE(chunks);
  ASSERT_GT(chunks->resets.size(), 1u);
  // The last reset with a file beginning after it, that file and the one the reset falls in.
  constexpr std::uint64_t kNone = UINT64_MAX;
  std::uint64_t after = kNone;
  std::uint64_t inside = kNone;
  for (auto reset = chunks->resets.rbegin(); reset != chunks->resets.rend() && after == kNone; ++reset) {
    inside = kNone;
    for (std::uint64_t s = 0; s < snapshot->substream_count(); ++s) {
      const auto& where = snapshot->substream(s);
      if (where.offset < reset->unpacked && where.offset + where.size > reset->unpacked) inside = s;
      if (where.offset >= reset->unpacked && where.size > 0 && after == kNone) after = s;
    }
  }
  ASSERT_NE(after, kNone);
  ASSERT_NE(inside, kNone);
  {
    cached_reader first({.cache_bytes = 64 << 20, .block_size = 256 << 10, .decoders = {}});
    const auto ref = std::ranges::find(refs, after, &reference::substream);
    ASSERT_NE(ref, refs.end());
    ASSERT_EQ(read_whole(first, *snapshot, after, 64 << 10), ref->content);
    EXPECT_LT(first.stats().bytes_decoded, snapshot->substream(after).offset);
    EXPECT_EQ(snapshot->verdict(after), archive_snapshot::crc_verdict::good);
    EXPECT_EQ(snapshot->verdict(inside), archive_snapshot::crc_verdict::unchecked);
  }
  cached_reader reader({.cache_bytes = 64 << 20, .block_size = 256 << 10, .decoders = {}});
  for (auto ref = refs.rbegin(); ref != refs.rend(); ++ref) {
    ASSERT_EQ(read_whole(reader, *snapshot, ref->substream, 64 << 10), ref->content);
  }
  EXPECT_LT(reader.stats().bytes_decoded, snapshot->database().folders.front().unpack_size() * 3 / 2)
      << "not decoded again from the start for every file";
  std::size_t good = 0;
  for (const auto& ref : refs) {
    EXPECT_NE(snapshot->verdict(ref.substream), archive_snapshot::crc_verdict::bad)
        << snapshot->substream_name(ref.substream);
    good += snapshot->verdict(ref.substream) == archive_snapshot::crc_verdict::good ? 1 : 0;
  }
  EXPECT_GT(good, 0u);
  check_reads(archive("solid-mt.7z"), dir_.path());
}

// Damaged data makes undecodable what follows it up to the next dictionary
// reset only: read in folder order, the files the damage reaches (those
// with data before that reset) fail, and every file after it reads back
// whole and is checked good.
TEST_F(ReadInterop, DamageReachesOnlyToTheNextReset) {
  seven_zip(dir_.path(), "damaged-mt.7z", "-ms=on -m0=lzma2:d=256k:c=256k -mmt=4", "tree/text");
  const auto layout = read_archive(archive("damaged-mt.7z").string());
  {
    const unique_fd fd(::open(archive("damaged-mt.7z").c_str(), O_RDWR | O_CLOEXEC));
    std::uint8_t byte = 0;
    const std::uint64_t at = 32 + layout.db.pack_position + 1000;  // inside the first chunk
    read_at(fd.get(), at, std::span(&byte, 1), "damaged-mt.7z");
    byte ^= 0x04;
    write_at(fd.get(), at, std::span(&byte, 1), "damaged-mt.7z");
  }
  const auto snapshot = archive_snapshot::open(archive("damaged-mt.7z").string());
  ASSERT_EQ(snapshot->database().folders.size(), 1u);
  const auto& pack = snapshot->folder(0).packs.front();
  const auto chunks = walk_lzma2_chunks(snapshot->fd(), {pack.offset, pack.size});
  ASSERT_TRUE(chunks);
  ASSERT_GT(chunks->resets.size(), 2u);
  ASSERT_GT(chunks->resets[1].packed, 1000u) << "the damage lies before the second reset";
  const std::uint64_t next_reset = chunks->resets[1].unpacked;

  const auto refs = references(*snapshot, dir_.path());
  cached_reader reader({.cache_bytes = 64 << 20, .block_size = 64 << 10, .decoders = {}});
  std::size_t failed = 0;
  std::size_t after_reset = 0;
  for (const auto& ref : refs) {
    const auto& where = snapshot->substream(ref.substream);
    try {
      EXPECT_EQ(read_whole(reader, *snapshot, ref.substream, 64 << 10), ref.content);
    } catch (const archive_error& error) {
      EXPECT_EQ(error.kind(), error_kind::corrupt_archive);
      EXPECT_LT(where.offset, next_reset) << snapshot->substream_name(ref.substream) << " lies after the reset";
      ++failed;
      continue;
    }
    if (where.offset >= next_reset && where.size > 0) {
      ++after_reset;
      EXPECT_EQ(snapshot->verdict(ref.substream), archive_snapshot::crc_verdict::good);
    }
  }
  EXPECT_GT(failed, 0u);
  EXPECT_GT(after_reset, 5u);
  EXPECT_EQ(reader.stats().chunk_walks, 1u);
  EXPECT_NE(run("7zz t " + quote(archive("damaged-mt.7z").string()) + " >/dev/null 2>&1").exit_code, 0);
}
