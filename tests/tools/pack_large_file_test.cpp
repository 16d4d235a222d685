// A file over 4 GiB (mostly holes, with data at the start, across the 4 GiB
// boundary and at the end) packed and verified by 7zz, bsdtar and a byte
// compare of bsdtar's extraction. Slow: labelled "slow".
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace sevenzfs::test;

namespace {

void write_at(int fd, off_t offset, const std::string& text) {
  ASSERT_EQ(::pwrite(fd, text.data(), text.size(), offset), static_cast<ssize_t>(text.size()));
}

}  // namespace

TEST(PackLargeFile, OverFourGiBInBatchedAndSolidFolders) {
  temp_dir dir;
  fs::create_directories(dir / "src");
  const auto big = dir / "src" / "big.img";
  const off_t size = (off_t{4} << 30) + 300007;
  {
    const int fd = ::open(big.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, size), 0);
    std::string pattern;
    for (int i = 0; i < 20000; ++i) pattern += "block " + std::to_string(i) + "\n";
    write_at(fd, 0, pattern);
    write_at(fd, (off_t{4} << 30) - 100000, pattern);  // crosses the 4 GiB boundary
    write_at(fd, size - 77, "the end of the file, 77 bytes before its end....................!!");
    ::close(fd);
    ASSERT_EQ(fs::file_size(big), static_cast<std::uintmax_t>(size));
  }
  write_file(dir / "src" / "small.txt", "small file after the big one\n");
  for (const char* mode : {"batched", "solid"}) {
    SCOPED_TRACE(mode);
    const auto archive = dir / "big.7z";
    const auto packed = run(pack_binary() + " --level 1 --threads 2 --mode " + mode + " " + quote(archive.string()) +
                            " " + quote((dir / "src").string()));
    ASSERT_EQ(packed.exit_code, 0) << packed.output;
    const auto tested = run("7zz t " + quote(archive.string()));
    EXPECT_EQ(tested.exit_code, 0) << tested.output;
    const auto listed = run("bsdtar -tvf " + quote(archive.string()));
    EXPECT_NE(listed.output.find(std::to_string(size)), std::string::npos) << listed.output;
    const auto compared = run("bsdtar -xOf " + quote(archive.string()) + " src/big.img | cmp - " + quote(big.string()));
    EXPECT_EQ(compared.exit_code, 0) << compared.output;
    fs::remove(archive);
  }
}
