// Reading back through real mounts: a file reads back seconds after the
// commit that archived it; a remount shows and reads everything exactly;
// archives other writers made (7zz with BCJ/BCJ2 and several levels, py7zr,
// bsdtar) read back byte for byte; what cannot be read is refused clearly.
#include "mount_fixture.hpp"
#include "tools/fixture_tree.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace fs = std::filesystem;
using namespace sevenzfs::test;

namespace {

// 7zz x of `archive` into `where`, the reference tree a mount must show.
void extract_with_7zz(const fs::path& archive, const fs::path& where) {
  const auto done = run("7zz x -snld -y -o" + quote(where.string()) + " " + quote(archive.string()));
  ASSERT_EQ(done.exit_code, 0) << done.output;
}

std::string diff_r(const fs::path& a, const fs::path& b) {
  return run("diff -r --no-dereference " + quote(a.string()) + " " + quote(b.string())).output;
}

// src/a.txt and src/b.txt, 5,000 bytes each, in one BZip2 folder (bsdtar's
// 7z writer puts every file in one folder), which sevenzfs cannot decode.
void make_bzip2_archive(const fs::path& dir, const fs::path& archive) {
  fs::create_directories(dir / "src");
  write_file(dir / "src" / "a.txt", std::string(5000, 'a'));
  write_file(dir / "src" / "b.txt", std::string(5000, 'b'));
  ASSERT_EQ(run("cd " + quote(dir.string()) + " && bsdtar --format 7zip --options 7zip:compression=bzip2 -cf " +
                quote(archive.string()) + " src")
                .exit_code,
            0);
}

}  // namespace

TEST_F(mount_fixture, AFileReadsBackAfterTheCommitThatArchivedIt) {
  auto daemon = mount();
  write_file(mnt / "a", "hello\n");
  ASSERT_EQ(run("sync " + quote((mnt / "a").string())).exit_code, 0);
  EXPECT_EQ(xattr(mnt / "a", "user.sevenzfs.state").substr(0, 19), R"({"state":"archived")");
  EXPECT_EQ(run("cat " + quote((mnt / "a").string())).output, "hello\n");
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
}

// Write-only handles go past the page cache (fuse_operations.cpp): a reader
// that cached a file's pages reads what such a handle wrote over them, and
// an O_APPEND writer appends at the end another handle extended, and mmap
// still works on a read-write handle.
TEST_F(mount_fixture, AReaderSeesWhatAWriteOnlyHandleWroteOverItsCachedPages) {
  auto daemon = mount("settle=0");
  write_file(mnt / "f", std::string(8192, 'a'));
  const int reader = ::open((mnt / "f").c_str(), O_RDONLY);
  ASSERT_GE(reader, 0);
  std::string got(8192, '\0');
  ASSERT_EQ(::pread(reader, got.data(), got.size(), 0), 8192);
  EXPECT_EQ(got, std::string(8192, 'a'));
  const int writer = ::open((mnt / "f").c_str(), O_WRONLY);
  ASSERT_GE(writer, 0);
  ASSERT_EQ(::pwrite(writer, std::string(4096, 'b').data(), 4096, 2048), 4096);
  ASSERT_EQ(::pread(reader, got.data(), got.size(), 0), 8192);
  EXPECT_EQ(got, std::string(2048, 'a') + std::string(4096, 'b') + std::string(2048, 'a'));
  const int appender = ::open((mnt / "f").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(appender, 0);
  ASSERT_EQ(::pwrite(writer, "cc", 2, 8192), 2);
  ASSERT_EQ(::write(appender, "dd", 2), 2);
  ::close(appender);
  ::close(writer);
  got.assign(8196, '\0');
  ASSERT_EQ(::pread(reader, got.data(), got.size(), 0), 8196);
  EXPECT_EQ(got.substr(8190), "aaccdd");
  ::close(reader);
  const int both = ::open((mnt / "f").c_str(), O_RDWR);
  ASSERT_GE(both, 0);
  void* mapped = ::mmap(nullptr, 8196, PROT_READ | PROT_WRITE, MAP_SHARED, both, 0);
  ASSERT_NE(mapped, MAP_FAILED) << std::strerror(errno);
  static_cast<char*>(mapped)[0] = 'e';
  ASSERT_EQ(::msync(mapped, 8196, MS_SYNC), 0);
  ::munmap(mapped, 8196);
  ::close(both);
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  const auto listed = run("7zz x -so " + quote(archive.string()) + " f | head -c 4 | od -An -c").output;
  EXPECT_EQ(listed, "   e   a   a   a\n");
}

// How often `opcode` appears in libfuse's request trace.
std::size_t requests_of(const std::string& trace, const std::string& opcode) {
  std::size_t count = 0;
  for (auto at = trace.find("opcode: " + opcode + " "); at != std::string::npos;
       at = trace.find("opcode: " + opcode + " ", at + 1)) {
    ++count;
  }
  return count;
}

// Files written through write-only handles cost no GETXATTR of
// security.capability where the kernel lets them go direct (protocol 7.39
// on); with kernel_cache a file read twice is read from the daemon once,
// without it twice.
TEST_F(mount_fixture, WriteOnlyHandlesCostNoGetxattrAndKernelCacheKeepsPagesAcrossOpens) {
  const std::string big(256 << 10, 'x');
  for (const bool kernel_cache : {true, false}) {
    SCOPED_TRACE(kernel_cache ? "kernel_cache" : "without kernel_cache");
    fs::remove(archive);
    auto daemon = mount(kernel_cache ? "debug,kernel_cache" : "debug");
    for (int i = 0; i < 20; ++i) write_file(mnt / ("f" + std::to_string(i)), "small file\n");
    write_file(mnt / "big", big);
    EXPECT_EQ(read_file(mnt / "big"), big);
    const std::size_t reads_once = requests_of(daemon->log(), "READ");
    EXPECT_EQ(read_file(mnt / "big"), big);
    const std::size_t reads_twice = requests_of(daemon->log(), "READ");
    EXPECT_GT(reads_once, 0u);
    if (kernel_cache) {
      EXPECT_EQ(reads_twice, reads_once) << "the second open dropped the cached pages";
    } else {
      EXPECT_GT(reads_twice, reads_once);
    }
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
    const std::string trace = daemon->log();
    const auto init = trace.find("INIT: 7.");
    ASSERT_NE(init, std::string::npos) << trace.substr(0, 2000);
    const int minor = std::stoi(trace.substr(init + 8));
    if (minor >= 39) {
      EXPECT_EQ(requests_of(trace, "GETXATTR"), 0u) << "protocol 7." << minor;
    } else {
      EXPECT_GE(requests_of(trace, "GETXATTR"), 21u) << "protocol 7." << minor << ": writes go through the cache";
    }
  }
}

TEST_F(mount_fixture, ARemountShowsAndReadsEverythingExactly) {
  make_fixture_tree(dir / "src");
  {
    auto daemon = mount("threads=2");
    ASSERT_EQ(run("cp -a " + quote((dir / "src").string()) + " " + quote(mnt.string()) + "/").exit_code, 0);
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  }
  auto daemon = mount();
  EXPECT_EQ(join(compare_trees(dir / "src", mnt / "src")), "") << "contents, symlinks, modes and times";
  EXPECT_EQ(diff_r(dir / "src", mnt / "src"), "");
  // rsync -a finds nothing to do: links read back, sizes and times agree.
  const auto synced = run("rsync -a --itemize-changes " + quote((dir / "src").string() + "/") + " " +
                          quote((mnt / "src").string() + "/"));
  EXPECT_EQ(synced.output, "") << "rsync would copy again: " << synced.output;
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
}

// A chain of 3,000 nested directories (paths of 6,000 bytes, past PATH_MAX:
// made and read through relative chdir) mounts again within the fixture's
// 10 s; the tree's loader joined every path prefix of every entry, and the
// chain of an archive the mount itself wrote took minutes.
TEST_F(mount_fixture, ADeepChainOfDirectoriesMountsAgainAndReadsBack) {
  const std::string descend =
      "import os, sys\n"
      "os.chdir(sys.argv[1])\n"
      "for i in range(3000):\n"
      "    if sys.argv[2] == 'make': os.mkdir('d')\n"
      "    os.chdir('d')\n"
      "if sys.argv[2] == 'make': open('leaf', 'w').write('at the bottom\\n')\n"
      "else: print(open('leaf').read(), end='')\n";
  const auto walk = [&](const std::string& mode) {
    return run("/usr/bin/python3 -c " + quote(descend) + " " + quote(mnt.string()) + " " + mode);
  };
  {
    auto daemon = mount();
    ASSERT_EQ(walk("make").exit_code, 0);
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  }
  EXPECT_EQ(run("7zz t " + quote(archive.string())).exit_code, 0);
  auto daemon = mount();
  ASSERT_TRUE(is_mounted(mnt));
  EXPECT_EQ(walk("read").output, "at the bottom\n");
  EXPECT_EQ(run("find " + quote(mnt.string()) + " -type d | wc -l").output, "3001\n");
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
}

TEST_F(mount_fixture, ArchivesOfOtherWritersReadBackByteForByte) {
  const auto src = dir / "src";
  make_fixture_tree(src, {.non_bmp_names = false});
  fs::create_directories(src / "bin");
  for (const char* program : {"ls", "cp"}) fs::copy_file(fs::path("/usr/bin") / program, src / "bin" / program);
  struct maker {
    std::string name;
    std::string command;  // run in dir; writes made.7z from src
  };
  const std::vector<maker> makers{
      {"7zz solid -mx5 (BCJ)", "7zz a -bd -snl -mx=5 made.7z src"},
      {"7zz solid -mx9 (BCJ2)", "7zz a -bd -snl -mx=9 made.7z src"},
      {"7zz -ms=off -mx1", "7zz a -bd -snl -mx=1 -ms=off made.7z src"},
      {"py7zr",
       "/usr/bin/python3 -c 'import py7zr; a = py7zr.SevenZipFile(\"made.7z\", \"w\"); "
       "a.writeall(\"src\"); a.close()'"},
      {"bsdtar lzma2", "bsdtar --format 7zip --options 7zip:compression=lzma2 -cf made.7z src"},
  };
  for (const auto& made : makers) {
    SCOPED_TRACE(made.name);
    fs::remove(archive);
    fs::remove_all(dir / "reference");
    const auto written =
        run("cd " + quote(dir.path().string()) + " && " + made.command + " && mv made.7z " + quote(archive.string()));
    ASSERT_EQ(written.exit_code, 0) << written.output;
    extract_with_7zz(archive, dir / "reference");
    auto daemon = mount();
    EXPECT_EQ(diff_r(dir / "reference" / "src", mnt / "src"), "");
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  }
}

TEST_F(mount_fixture, WhatCannotBeReadIsRefusedClearlyOncePerFile) {
  ASSERT_NO_FATAL_FAILURE(make_bzip2_archive(dir.path(), archive));
  auto daemon = mount();
  for (int i = 0; i < 3; ++i) {
    const int fd = ::open((mnt / "src" / "a.txt").c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    char byte = 0;
    EXPECT_EQ(::read(fd, &byte, 1), -1);
    EXPECT_EQ(errno, EOPNOTSUPP);
    ::close(fd);
  }
  EXPECT_EQ(fs::file_size(mnt / "src" / "b.txt"), 5000u) << "listed with its size";
  write_file(mnt / "new.txt", "the mount still works\n");
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
  const std::string logged = daemon->log();
  std::size_t lines = 0;
  for (std::size_t at = 0; (at = logged.find("src/a.txt", at)) != std::string::npos; ++at) ++lines;
  EXPECT_EQ(lines, 1u) << "one log line per file, not per read:\n" << logged;
  EXPECT_NE(logged.find("BZip2"), std::string::npos) << logged;
  EXPECT_EQ(run("7zz e -so " + quote(archive.string()) + " new.txt").output, "the mount still works\n");
}

// A BZip2 folder of several files, which sevenzfs cannot decode: no commit
// can drop one of its files, so rm, mv over it and truncating it fail
// (EOPNOTSUPP) rather than report a success the archive would not keep;
// after a remount every file is there once.
TEST_F(mount_fixture, AFileInAnUndecodableSharedFolderIsNotRemovedOrReplaced) {
  ASSERT_NO_FATAL_FAILURE(make_bzip2_archive(dir.path(), archive));
  {
    auto daemon = mount();
    const auto a = mnt / "src" / "a.txt";
    EXPECT_EQ(::unlink(a.c_str()), -1);
    EXPECT_EQ(errno, EOPNOTSUPP);
    write_file(mnt / "new.txt", "new\n");
    EXPECT_EQ(::rename((mnt / "new.txt").c_str(), a.c_str()), -1);
    EXPECT_EQ(errno, EOPNOTSUPP);
    EXPECT_EQ(::truncate(a.c_str(), 0), -1);
    EXPECT_EQ(errno, EOPNOTSUPP);
    EXPECT_EQ(run("rm -f " + quote(a.string()) + " 2>&1").output.find("Operation not supported") != std::string::npos,
              true);
    ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
    EXPECT_NE(daemon->log().find("BZip2 folder with 1 other file"), std::string::npos) << daemon->log();
  }
  EXPECT_EQ(run("7zz l -ba -slt " + quote(archive.string()) + " | grep '^Path = ' | cut -c8- | LC_ALL=C sort").output,
            "new.txt\nsrc\nsrc/a.txt\nsrc/b.txt\n");
  auto daemon = mount();
  EXPECT_EQ(fs::file_size(mnt / "src" / "a.txt"), 5000u);
  EXPECT_EQ(run("cat " + quote((mnt / "new.txt").string())).output, "new\n");
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
}

TEST_F(mount_fixture, DamagedDataReadsAsEio) {
  {
    auto daemon = mount("level=0");
    write_file(mnt / "f.txt", std::string(20000, 'f'));
    ASSERT_EQ(daemon->unmount_and_wait(), 0);
  }
  // Level 0 stores: one flipped byte decodes fine, and only the CRC tells.
  const int fd = ::open(archive.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char byte = 0;
  ASSERT_EQ(::pread(fd, &byte, 1, 32 + 10000), 1);
  byte = static_cast<char>(byte ^ 0x20);
  ASSERT_EQ(::pwrite(fd, &byte, 1, 32 + 10000), 1);
  ::close(fd);
  auto daemon = mount();
  const auto read = run("{ cat " + quote((mnt / "f.txt").string()) + " > /dev/null; }");
  EXPECT_NE(read.exit_code, 0) << daemon->log();
  EXPECT_NE(read.output.find("Input/output error"), std::string::npos) << read.output << daemon->log();
  ASSERT_EQ(daemon->unmount_and_wait(), 0);
  EXPECT_NE(daemon->log().find("CRC"), std::string::npos) << daemon->log();
}

TEST_F(mount_fixture, ReadingDoesNotWaitForARunningCommit) {
  auto daemon = mount("level=9,threads=1");
  write_file(mnt / "small.txt", "small\n");
  ASSERT_EQ(run("sync " + quote((mnt / "small.txt").string())).exit_code, 0);
  // Enough incompressible data to keep a level-9 commit busy for a while.
  ASSERT_EQ(run("head -c 8M /dev/urandom > " + quote((mnt / "big.bin").string())).exit_code, 0);
  std::thread flush([&] { ::setxattr(mnt.c_str(), "user.sevenzfs.flush", "1", 1, 0); });
  bool committing = false;
  for (int i = 0; i < 200 && !committing; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    committing = xattr(mnt, "user.sevenzfs.committing") == "1";
  }
  ASSERT_TRUE(committing);
  EXPECT_EQ(run("cat " + quote((mnt / "small.txt").string())).output, "small\n");
  EXPECT_EQ(xattr(mnt, "user.sevenzfs.committing"), "1") << "the read ended before the commit did";
  flush.join();
  ASSERT_EQ(daemon->unmount_and_wait(), 0) << daemon->log();
}
