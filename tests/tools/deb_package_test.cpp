// cpack -G DEB builds a package that installs under /usr with the right
// dependencies and a unit naming /usr/bin/sevenzfs.
#include "operator_files.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <regex>

namespace fs = std::filesystem;
using namespace sevenzfs::test;

TEST(DebPackage, BuildsWithDependenciesAndFiles) {
  if (run("command -v dpkg-deb && command -v dpkg-shlibdeps").exit_code != 0) {
    GTEST_SKIP() << "dpkg-dev is missing";
  }
  temp_dir dir;
  const auto built = run("cpack -G DEB --config " + quote((build_dir() / "CPackConfig.cmake").string()) + " -B " +
                         quote(dir.path().string()));
  ASSERT_EQ(built.exit_code, 0) << built.output;
  fs::path deb;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    if (entry.path().extension() == ".deb") deb = entry.path();
  }
  ASSERT_FALSE(deb.empty()) << built.output;
  EXPECT_TRUE(std::regex_match(deb.filename().string(), std::regex(R"(sevenzfs_[0-9.]+-1_amd64\.deb)"))) << deb;

  const auto info = run("dpkg-deb -I " + quote(deb.string()));
  ASSERT_EQ(info.exit_code, 0) << info.output;
  EXPECT_NE(info.output.find(" Package: sevenzfs\n"), std::string::npos) << info.output;
  EXPECT_EQ(info.output.find(';'), std::string::npos) << "a CMake list leaked into the control file\n" << info.output;
  std::smatch depends;
  ASSERT_TRUE(std::regex_search(info.output, depends, std::regex(" Depends: ([^\n]*)\n"))) << info.output;
  const std::string listed = ", " + depends[1].str() + ",";
  for (const char* package : {"fuse3", "libfuse3-3", "liblzma5", "libfmt9", "libc6", "libstdc++6"}) {
    const bool found = listed.find(", " + std::string(package) + ",") != std::string::npos ||
                       listed.find(", " + std::string(package) + " (") != std::string::npos;
    EXPECT_TRUE(found) << package << " in: " << depends[1];
  }

  const auto contents = run("dpkg-deb -c " + quote(deb.string()));
  for (const char* file : {"./usr/bin/sevenzfs", "./usr/bin/sevenzfs-ctl", "./usr/bin/sevenzfs-pack",
                           "./usr/lib/systemd/system/sevenzfs@.service", "./usr/share/man/man8/sevenzfs.8.gz",
                           "./usr/share/man/man1/sevenzfs-ctl.1.gz", "./usr/share/man/man1/sevenzfs-pack.1.gz",
                           "./usr/share/doc/sevenzfs/README.md"}) {
    EXPECT_NE(contents.output.find(std::string(file) + "\n"), std::string::npos) << file << "\n" << contents.output;
  }
  EXPECT_EQ(contents.output.find("./usr/local"), std::string::npos);
  EXPECT_EQ(contents.output.find("bench"), std::string::npos) << "benchmarks are not shipped";

  ASSERT_EQ(run("dpkg-deb -x " + quote(deb.string()) + " " + quote((dir / "root").string())).exit_code, 0);
  const auto unit = read_file(dir / "root/usr/lib/systemd/system/sevenzfs@.service");
  EXPECT_NE(unit.find("ExecStart=/usr/bin/sevenzfs -f "), std::string::npos) << unit;
  EXPECT_EQ(run(quote((dir / "root/usr/bin/sevenzfs-ctl").string()) + " --version").exit_code, 0);
}
