// The units: systemd-analyze verify accepts them (man pages included), and
// the service is set up to supervise the final commit.
#include "operator_files.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace fs = std::filesystem;
using namespace sevenzfs::test;

namespace {

const fs::path kService = build_dir() / "systemd" / "build-tree" / "sevenzfs@.service";

}  // namespace

TEST(SystemdUnits, VerifyAcceptsThem) {
  if (run("command -v systemd-analyze").exit_code != 0) GTEST_SKIP() << "systemd-analyze is missing (systemd)";
  temp_dir dir;
  // An instance (a template alone is not checked for its commands), the
  // example mount unit, and the man pages they name.
  fs::copy_file(kService, dir / "sevenzfs@.service");
  fs::create_symlink("sevenzfs@.service", dir / "sevenzfs@mnt-archive.service");
  fs::copy_file(source_dir() / "systemd" / "mnt-archive.mount", dir / "mnt-archive.mount");
  for (const char* section : {"1", "8"}) fs::create_directories(dir / "man" / ("man" + std::string(section)));
  fs::copy_file(build_dir() / "tools/man/sevenzfs.8", dir / "man/man8/sevenzfs.8");
  fs::copy_file(build_dir() / "tools/man/sevenzfs-ctl.1", dir / "man/man1/sevenzfs-ctl.1");
  const auto result =
      run("MANPATH=" + quote((dir / "man").string()) + " systemd-analyze verify " +
          quote((dir / "sevenzfs@mnt-archive.service").string()) + " " + quote((dir / "mnt-archive.mount").string()));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "") << "warnings count as failures";

  // And it does complain about a broken unit (so the test can fail).
  write_file(dir / "sevenzfs@.service", read_file(kService) + "Frobnicate=1\n");
  EXPECT_NE(run("systemd-analyze verify --man=no " + quote((dir / "sevenzfs@mnt-archive.service").string())).output,
            "");
}

TEST(SystemdUnits, ServiceSupervisesTheFinalCommit) {
  const auto unit = read_file(kService);
  for (const char* line :
       {"Type=notify\n", "NotifyAccess=main\n", "KillMode=mixed\n", "TimeoutStartSec=15min\n", "TimeoutStopSec=15min\n",
        "EnvironmentFile=/etc/sevenzfs/%i.conf\n", "Environment=OPTIONS=defaults\n", "RequiresMountsFor=%f\n",
        "WantedBy=multi-user.target\n"}) {
    EXPECT_NE(unit.find(line), std::string::npos) << line;
  }
  EXPECT_NE(unit.find("ExecStart=" + daemon_program() + " -f -o ${OPTIONS} ${ARCHIVE} %f\n"), std::string::npos)
      << "in the foreground: the main process is the one that writes the archive\n"
      << unit;
  EXPECT_NE(unit.find("ExecReload=" + ctl_binary() + " flush %f\n"), std::string::npos) << unit;
  // A mount namespace of its own would hide the mount from everyone else.
  for (const char* option : {"\nPrivateTmp=", "\nProtectSystem=", "\nProtectHome=", "\nPrivateMounts="}) {
    EXPECT_EQ(unit.find(option), std::string::npos) << option;
  }
}

TEST(SystemdUnits, NamesFollowSystemdEscape) {
  if (run("command -v systemd-escape").exit_code != 0) GTEST_SKIP() << "systemd-escape is missing (systemd)";
  EXPECT_EQ(run("systemd-escape --path /mnt/archive").output, "mnt-archive\n");
  EXPECT_EQ(run("systemd-escape --path --suffix=mount /mnt/archive").output, "mnt-archive.mount\n");
  const auto mount = read_file(source_dir() / "systemd" / "mnt-archive.mount");
  EXPECT_NE(mount.find("Where=/mnt/archive\n"), std::string::npos);
  EXPECT_NE(mount.find("Type=fuse.sevenzfs\n"), std::string::npos);
  const auto example = read_file(source_dir() / "systemd" / "sevenzfs.conf.example");
  EXPECT_NE(example.find("\nARCHIVE=/"), std::string::npos);
  EXPECT_NE(example.find("\nOPTIONS="), std::string::npos);
}
