// cmake --install puts the programs, the unit (naming the installed daemon),
// the man pages and the documentation where GNUInstallDirs says, under a
// prefix and under DESTDIR.
#include "operator_files.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace fs = std::filesystem;
using namespace sevenzfs::test;

namespace {

const char* const kInstalled[] = {"bin/sevenzfs",
                                  "bin/sevenzfs-ctl",
                                  "bin/sevenzfs-pack",
                                  "lib/systemd/system/sevenzfs@.service",
                                  "share/man/man8/sevenzfs.8.gz",
                                  "share/man/man1/sevenzfs-ctl.1.gz",
                                  "share/man/man1/sevenzfs-pack.1.gz",
                                  "share/doc/sevenzfs/README.md",
                                  "share/doc/sevenzfs/README-systemd.md",
                                  "share/doc/sevenzfs/examples/mnt-archive.mount",
                                  "share/doc/sevenzfs/examples/sevenzfs.conf.example"};

command_result install(const std::string& prefix, const std::string& destdir = "") {
  return run((destdir.empty() ? std::string() : "DESTDIR=" + quote(destdir) + " ") + "cmake --install " +
             quote(build_dir().string()) + " --prefix " + quote(prefix));
}

}  // namespace

TEST(Install, UnderAPrefix) {
  temp_dir dir;
  const auto prefix = dir / "usr";
  const auto result = install(prefix.string());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  for (const char* file : kInstalled) EXPECT_TRUE(fs::is_regular_file(prefix / file)) << file;
  for (const char* program : {"sevenzfs", "sevenzfs-ctl", "sevenzfs-pack"}) {
    EXPECT_EQ(fs::status(prefix / "bin" / program).permissions() & fs::perms::owner_exec, fs::perms::owner_exec);
    EXPECT_EQ(run(quote((prefix / "bin" / program).string()) + " --help").exit_code, 0) << program;
  }
  const auto unit = read_file(prefix / "lib/systemd/system/sevenzfs@.service");
  EXPECT_NE(unit.find("ExecStart=" + (prefix / "bin/sevenzfs").string() + " -f "), std::string::npos) << unit;
  EXPECT_NE(unit.find("ExecReload=" + (prefix / "bin/sevenzfs-ctl").string() + " flush %f"), std::string::npos);
  EXPECT_EQ(unit.find('@' + std::string("SEVENZFS")), std::string::npos) << "every placeholder filled";
  // The compressed page is the page.
  EXPECT_EQ(run("gzip -dc " + quote((prefix / "share/man/man1/sevenzfs-ctl.1.gz").string())).output,
            read_file(build_dir() / "tools/man/sevenzfs-ctl.1"));
}

TEST(Install, UnderDestdirTheUnitNamesTheFinalPath) {
  temp_dir dir;
  const auto result = install("/usr/local", dir.path().string());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  for (const char* file : kInstalled) EXPECT_TRUE(fs::is_regular_file(dir / "usr/local" / file)) << file;
  const auto unit = read_file(dir / "usr/local/lib/systemd/system/sevenzfs@.service");
  EXPECT_NE(unit.find("ExecStart=/usr/local/bin/sevenzfs -f "), std::string::npos) << unit;
  EXPECT_NE(unit.find("ExecReload=/usr/local/bin/sevenzfs-ctl flush %f"), std::string::npos) << unit;
}
