// sevenzfs-ctl run in-process against a fake daemon: the mount is a temp
// directory that a fake mountinfo declares fuse.sevenzfs; its xattrs are
// either real ones on that directory (values set by the test) or a fake
// whose controls do what the test says.
#include "tools/ctl_command.hpp"

#include "ctl_fakes.hpp"
#include "test_support.hpp"

#include "archive/archive_error.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <thread>

namespace fs = std::filesystem;
using namespace sevenzfs::tools;
using namespace sevenzfs::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kStats =
    R"({"version":"0.2.0","archive":"/srv/a.7z","pid":1,"mode":"solid","staged_bytes":2048,"commits_total":3,)"
    R"("committing":0,"commit_pending_bytes":0,"commit_done_bytes":0,"commit_progress_percent":100,"last_error":""})"
    "\n";

struct ctl_fixture : testing::Test {
  temp_dir dir;
  fs::path mnt = dir / "mnt";
  fs::path mountinfo = dir / "mountinfo";
  fake_daemon daemon;
  ctl_environment environment;

  void SetUp() override {
    fs::create_directories(mnt);
    write_mountinfo(mountinfo, {{mnt.string(), "fuse.sevenzfs"}});
    environment.mountinfo = mountinfo;
    environment.terminal = false;
    environment.width = 80;
    environment.poll_interval = 5ms;
    environment.progress_line_interval = 0ms;
    environment.open_xattrs = [this](const std::string&) { return daemon.open(); };
    daemon.set_value("pid", std::to_string(::getpid()));
    daemon.set_value("archive", "/srv/a.7z");
    daemon.set_value("version", "0.2.0");
    daemon.set_value("stats", kStats);
  }

  captured ctl(const std::vector<std::string>& args) {
    return capture([&](std::FILE* out, std::FILE* err) { return ctl_main(args, out, err, environment); });
  }

  // A commit the fake daemon runs inside a control: progress in three steps.
  std::function<int()> commit(int result, std::string error = "") {
    return [this, result, error] {
      daemon.set_value("commit_pending_bytes", "1000");
      daemon.set_value("commit_done_bytes", "0");
      daemon.set_value("committing", "1");
      for (const char* done : {"0", "500", "1000"}) {
        daemon.set_value("commit_done_bytes", done);
        std::this_thread::sleep_for(60ms);
      }
      daemon.set_value("committing", "0");
      if (!error.empty()) daemon.set_value("last_error", error);
      return result;
    };
  }
};

// A child process standing in for the daemon: waits until killed.
struct stand_in_process {
  pid_t pid = ::fork();
  stand_in_process() {
    if (pid == 0) {
      ::pause();
      ::_exit(0);
    }
  }
  ~stand_in_process() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

}  // namespace

TEST_F(ctl_fixture, HelpVersionAndUsageErrors) {
  const auto help = ctl({"--help"});
  EXPECT_EQ(help.exit_code, kCtlOk);
  for (const char* word : {"flush", "stats", "--json", "--prometheus", "watch", "--interval", "--count", "unmount",
                           "--timeout", "compact", "Exit status"}) {
    EXPECT_NE(help.out.find(word), std::string::npos) << word;
  }
  EXPECT_EQ(ctl({"stats", "--bogus", "--help"}).exit_code, kCtlOk) << "help wins";
  EXPECT_EQ(ctl({"-V"}).out.rfind("sevenzfs-ctl ", 0), 0u);
  const std::vector<std::vector<std::string>> bad = {{},
                                                     {"frobnicate", "x"},
                                                     {"flush"},
                                                     {"flush", "a", "b"},
                                                     {"flush", ""},
                                                     {"unmount", ""},
                                                     {"stats", "a", ""},
                                                     {"stats", "a", "--json", "--prometheus"},
                                                     {"stats", "a", "b", "--json"},
                                                     {"flush", "a", "--json"},
                                                     {"stats", "a", "--interval=1"},
                                                     {"watch", "a", "--interval=0"},
                                                     {"watch", "a", "--count=0"},
                                                     {"watch", "a", "--interval", "x"},
                                                     {"unmount", "a", "--timeout=-1"},
                                                     {"flush", "a", "--timeout=1"},
                                                     {"stats", "--bogus", "a"}};
  for (const auto& args : bad) {
    const auto r = ctl(args);
    EXPECT_EQ(r.exit_code, kCtlUsage) << testing::PrintToString(args);
    EXPECT_EQ(r.err.rfind("sevenzfs-ctl: ", 0), 0u) << r.err;
    EXPECT_TRUE(daemon.controls_set().empty());
  }
}

TEST_F(ctl_fixture, NotASevenzfsMountIsExitThree) {
  fs::create_directories(dir / "plain");
  EXPECT_EQ(ctl({"stats", (dir / "missing").string()}).err,
            "sevenzfs-ctl: " + (dir / "missing").string() + ": does not exist\n");
  EXPECT_EQ(ctl({"flush", (dir / "missing").string()}).exit_code, kCtlNotSevenzfs);
  const auto plain = ctl({"unmount", (dir / "plain").string()});
  EXPECT_EQ(plain.exit_code, kCtlNotSevenzfs);
  EXPECT_NE(plain.err.find("is not a mount point"), std::string::npos) << plain.err;
  write_mountinfo(mountinfo, {{mnt.string(), "fuse.sshfs"}});
  const auto other = ctl({"flush", mnt.string()});
  EXPECT_EQ(other.exit_code, kCtlNotSevenzfs);
  EXPECT_NE(other.err.find("is a fuse.sshfs mount, not a sevenzfs mount"), std::string::npos) << other.err;
  EXPECT_TRUE(daemon.controls_set().empty());
}

TEST_F(ctl_fixture, AFuseSevenzfsMountWithoutPidIsExitThree) {
  environment.open_xattrs = {};  // real xattrs on the directory, which has none of ours
  const auto r = ctl({"stats", mnt.string()});
  EXPECT_EQ(r.exit_code, kCtlNotSevenzfs);
  EXPECT_NE(r.err.find("no valid user.sevenzfs.pid"), std::string::npos) << r.err;
  daemon.fail_reads(ENOTCONN);
  environment.open_xattrs = [this](const std::string&) { return daemon.open(); };
  const auto gone = ctl({"flush", mnt.string()});
  EXPECT_EQ(gone.exit_code, kCtlNotSevenzfs);
  EXPECT_NE(gone.err.find("daemon of this mount is gone"), std::string::npos) << gone.err;
}

TEST_F(ctl_fixture, StatsFromRealXattrsInThreeFormats) {
  if (::setxattr(mnt.c_str(), "user.sevenzfs.pid", "7", 1, 0) != 0) {
    GTEST_SKIP() << "no user xattrs on " << mnt << ": " << std::strerror(errno);
  }
  ASSERT_EQ(::setxattr(mnt.c_str(), "user.sevenzfs.stats", kStats, std::strlen(kStats), 0), 0);
  environment.open_xattrs = {};  // the default: getxattr on the path
  const auto human = ctl({"stats", mnt.string() + "/"});
  EXPECT_EQ(human.exit_code, kCtlOk) << human.err;
  // Keys padded to the longest, commit_progress_percent (23 columns).
  EXPECT_NE(human.out.find("\nstaged_bytes" + std::string(23 - 12 + 2, ' ') + "2048  2.0 KiB\n"), std::string::npos)
      << human.out;
  EXPECT_NE(human.out.find("\nlast_error" + std::string(23 - 10 + 2, ' ') + "(none)\n"), std::string::npos)
      << human.out;

  const auto json = ctl({"stats", "--json", mnt.string()});
  EXPECT_EQ(json.exit_code, kCtlOk) << json.err;
  EXPECT_EQ(json.out, kStats) << "the document as is";
  write_file(dir / "stats.json", json.out);
  EXPECT_EQ(run("/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d[\"commits_total\"])' " +
                quote((dir / "stats.json").string()))
                .output,
            "3\n");

  const auto prometheus = ctl({"stats", mnt.string(), "--prometheus"});
  EXPECT_EQ(prometheus.exit_code, kCtlOk) << prometheus.err;
  EXPECT_NE(prometheus.out.find("sevenzfs_commits_total{mountpoint=\"" + mnt.string() + "\"} 3\n"), std::string::npos)
      << prometheus.out;
  EXPECT_NE(prometheus.out.find("sevenzfs_info{mountpoint=\"" + mnt.string() +
                                "\",version=\"0.2.0\",archive=\"/srv/a.7z\",mode=\"solid\",last_error=\"\"} 1\n"),
            std::string::npos)
      << prometheus.out;
}

TEST_F(ctl_fixture, StatsOfSeveralMountsShareOneHelpPerMetric) {
  const auto second = dir / "second";
  fs::create_directories(second);
  write_mountinfo(mountinfo, {{mnt.string(), "fuse.sevenzfs"}, {second.string(), "fuse.sevenzfs"}});
  const auto r = ctl({"stats", "--prometheus", mnt.string(), second.string()});
  EXPECT_EQ(r.exit_code, kCtlOk) << r.err;
  std::size_t helps = 0;
  for (std::size_t at = 0; (at = r.out.find("# HELP sevenzfs_commits_total ", at)) != std::string::npos; ++at) ++helps;
  EXPECT_EQ(helps, 1u) << r.out;
  EXPECT_NE(r.out.find("sevenzfs_commits_total{mountpoint=\"" + second.string() + "\"} 3\n"), std::string::npos);
  const auto human = ctl({"stats", mnt.string(), second.string()});
  EXPECT_NE(human.out.find(mnt.string() + ":\n"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("\n\n" + second.string() + ":\n"), std::string::npos) << human.out;
}

// One mount that cannot be read does not hide the others (a scrape keeps
// the healthy ones), and a mount named twice is sampled once: duplicate
// samples make the whole exposition invalid.
TEST_F(ctl_fixture, StatsOfSeveralMountsSkipABadOneAndRepeatNone) {
  const auto missing = dir / "missing";
  const auto r = ctl({"stats", "--prometheus", mnt.string(), missing.string(), mnt.string() + "/"});
  EXPECT_EQ(r.exit_code, kCtlNotSevenzfs) << r.err;
  EXPECT_NE(r.err.find(missing.string()), std::string::npos) << r.err;
  const std::string sample = "sevenzfs_commits_total{mountpoint=\"" + mnt.string() + "\"} 3\n";
  const auto first = r.out.find(sample);
  EXPECT_NE(first, std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(sample, first + 1), std::string::npos) << "sampled twice: " << r.out;
  const auto human = ctl({"stats", missing.string(), mnt.string()});
  EXPECT_EQ(human.exit_code, kCtlNotSevenzfs);
  EXPECT_NE(human.out.find("staged"), std::string::npos) << human.out;
}

TEST_F(ctl_fixture, MalformedOrMissingStatsAreFailures) {
  daemon.set_value("stats", "{\"a\":");
  const auto bad = ctl({"stats", "--json", mnt.string()});
  EXPECT_EQ(bad.exit_code, kCtlFailed);
  EXPECT_NE(bad.err.find("at byte"), std::string::npos) << bad.err;
  EXPECT_EQ(bad.out, "") << "nothing half-printed";
}

TEST_F(ctl_fixture, FlushWaitsShowsProgressAndSucceeds) {
  daemon.on_control("flush", commit(0));
  const auto r = ctl({"flush", mnt.string()});
  EXPECT_EQ(r.exit_code, kCtlOk) << r.err;
  EXPECT_EQ(daemon.controls_set(), std::vector<std::string>{"flush"});
  EXPECT_NE(r.out.find("flush: committing, 50.0 % (500 of 1000 bytes)\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(mnt.string() + ": flushed: everything written so far is in /srv/a.7z ("), std::string::npos)
      << r.out;
}

// A commit with no new content to compress (removals, a solid folder
// compressed again) says so once, not at every look.
TEST_F(ctl_fixture, AFlushWithNoNewContentSaysSoOnce) {
  daemon.on_control("flush", [this] {
    daemon.set_value("commit_pending_bytes", "0");
    daemon.set_value("commit_done_bytes", "0");
    daemon.set_value("committing", "1");
    std::this_thread::sleep_for(200ms);  // forty looks
    daemon.set_value("committing", "0");
    return 0;
  });
  const auto r = ctl({"flush", mnt.string()});
  EXPECT_EQ(r.exit_code, kCtlOk) << r.err;
  const std::string line = "flush: committing (no new content)\n";
  const auto first = r.out.find(line);
  EXPECT_NE(first, std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(line, first + 1), std::string::npos) << r.out;
}

TEST_F(ctl_fixture, FlushOnATerminalDrawsABar) {
  environment.terminal = true;
  daemon.on_control("flush", commit(0));
  const auto r = ctl({"flush", mnt.string()});
  EXPECT_EQ(r.exit_code, kCtlOk) << r.err;
  EXPECT_NE(r.out.find("\rflush ["), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" 50.0 %  500 B of 1000 B"), std::string::npos) << r.out;
  // The bar is cleared before the result line.
  EXPECT_NE(r.out.find(std::string(79, ' ') + "\r" + mnt.string() + ": flushed"), std::string::npos) << r.out;
}

TEST_F(ctl_fixture, FailedFlushIsExitOneWithTheDaemonsError) {
  daemon.on_control("flush", commit(ENOSPC, "writing /srv/a.7z.tmp: No space left on device"));
  const auto r = ctl({"flush", mnt.string()});
  EXPECT_EQ(r.exit_code, kCtlFailed);
  EXPECT_EQ(r.err, "sevenzfs-ctl: " + mnt.string() +
                       ": flush failed: No space left on device: writing /srv/a.7z.tmp: No space left on device\n");
  EXPECT_EQ(r.out.find("flushed"), std::string::npos);
}

TEST_F(ctl_fixture, RefusedAndUnsupportedControlsSaySo) {
  daemon.on_control("flush", [] { return EPERM; });
  const auto refused = ctl({"flush", mnt.string()});
  EXPECT_EQ(refused.exit_code, kCtlFailed);
  EXPECT_NE(refused.err.find("flush is only for the user who mounted it and root"), std::string::npos);
  daemon.on_control("compact", [] { return ENOTSUP; });
  const auto unsupported = ctl({"compact", mnt.string()});
  EXPECT_EQ(unsupported.exit_code, kCtlFailed);
  EXPECT_NE(unsupported.err.find("(version 0.2.0) does not support compact"), std::string::npos) << unsupported.err;
}

TEST_F(ctl_fixture, UnmountReturnsOnlyOnceTheDaemonExitedAndTheMountIsGone) {
  stand_in_process stand_in;
  daemon.set_value("pid", std::to_string(stand_in.pid));
  daemon.on_control("unmount", commit(0));
  std::atomic<bool> exited{false};
  std::atomic<bool> unmounted{false};
  // The "daemon" exits 200 ms after the reply (left a zombie: exited all the
  // same), and its mount goes 200 ms later.
  std::jthread daemon_side([&] {
    while (daemon.controls_set().empty()) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(400ms);
    exited = true;
    ::kill(stand_in.pid, SIGKILL);
    std::this_thread::sleep_for(200ms);
    unmounted = true;
    write_mountinfo(mountinfo, {});
  });
  const auto r = ctl({"unmount", mnt.string()});
  EXPECT_TRUE(exited);
  EXPECT_TRUE(unmounted);
  EXPECT_EQ(r.exit_code, kCtlOk) << r.err;
  EXPECT_EQ(daemon.controls_set(), std::vector<std::string>{"unmount"});
  EXPECT_NE(r.out.find(mnt.string() + ": everything is committed to /srv/a.7z; unmounted; the daemon (pid " +
                       std::to_string(stand_in.pid) + ") has exited\n"),
            std::string::npos)
      << r.out;
}

TEST_F(ctl_fixture, FailedFinalCommitLeavesTheMountAndSaysWhatToDo) {
  stand_in_process stand_in;
  daemon.set_value("pid", std::to_string(stand_in.pid));
  daemon.on_control("unmount", commit(EIO, "compressing x.bin: Input/output error"));
  const auto r = ctl({"unmount", mnt.string()});
  EXPECT_EQ(r.exit_code, kCtlFailed);
  EXPECT_NE(r.err.find("unmount failed: Input/output error: compressing x.bin: Input/output error\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("still mounted, nothing is lost"), std::string::npos) << r.err;
}

// A full disk: the daemon's own pending files may be what fills it, so the
// advice also names the way out that frees them.
TEST_F(ctl_fixture, AFinalCommitFailedForSpaceAlsoSaysHowToGetOutWithoutFreeingAny) {
  stand_in_process stand_in;
  daemon.set_value("pid", std::to_string(stand_in.pid));
  daemon.set_value("archive", "/srv/a.7z");
  daemon.on_control("unmount", commit(ENOSPC, "writing /srv/a.7z: No space left on device"));
  const auto r = ctl({"unmount", mnt.string()});
  EXPECT_EQ(r.exit_code, kCtlFailed);
  EXPECT_NE(r.err.find("still mounted, nothing is lost"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("if no space can be freed, unmount with fusermount3 -u: the daemon then removes its pending "
                       "files and saves what is not committed to /srv/a.7z.recovery.7z"),
            std::string::npos)
      << r.err;
}

// A daemon that makes no commit until the archive is mounted again: the
// advice is to unmount it with fusermount3, not to retry.
TEST_F(ctl_fixture, AFailedFinalCommitThatNoRetryCanMendSaysHowToUnmount) {
  stand_in_process stand_in;
  daemon.set_value("pid", std::to_string(stand_in.pid));
  daemon.set_value("archive", "/srv/a.7z");
  daemon.on_control("unmount", commit(EIO,
                                      "/srv/a.7z: the archive was replaced by another file since it was mounted "
                                      "or last committed; " +
                                          std::string(sevenzfs::archive::kNoCommitUntilRemount)));
  const auto r = ctl({"unmount", mnt.string()});
  EXPECT_EQ(r.exit_code, kCtlFailed);
  EXPECT_EQ(r.err.find("run sevenzfs-ctl unmount again"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("retrying cannot help; unmount it with fusermount3 -u: the daemon then saves what is not "
                       "committed to /srv/a.7z.recovery.7z"),
            std::string::npos)
      << r.err;
}

TEST_F(ctl_fixture, UnmountGivesUpAfterTheTimeout) {
  stand_in_process stand_in;
  daemon.set_value("pid", std::to_string(stand_in.pid));
  const auto start = std::chrono::steady_clock::now();
  const auto r = ctl({"unmount", "--timeout=0.3", mnt.string()});
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, kCtlFailed);
  EXPECT_GE(waited, 300ms);
  EXPECT_LT(waited, 5s);
  EXPECT_NE(r.err.find("everything is committed to /srv/a.7z, but after 0.30s the daemon (pid " +
                       std::to_string(stand_in.pid) + ") is still running and the mount is still there"),
            std::string::npos)
      << r.err;
}

// The mount is gone but the daemon runs on: something still has a file in
// it open (the kernel keeps the connection until it is closed). The message
// says so rather than leave the user to guess.
TEST_F(ctl_fixture, UnmountSaysAnOpenFileKeepsADetachedDaemonRunning) {
  stand_in_process stand_in;
  daemon.set_value("pid", std::to_string(stand_in.pid));
  daemon.on_control("unmount", [this] {
    write_mountinfo(mountinfo, {});
    return 0;
  });
  const auto r = ctl({"unmount", "--timeout=0.3", mnt.string()});
  EXPECT_EQ(r.exit_code, kCtlFailed);
  EXPECT_NE(r.err.find("(pid " + std::to_string(stand_in.pid) +
                       ") is still running: the mount is detached, but a file or directory in it is still open"),
            std::string::npos)
      << r.err;
}

TEST_F(ctl_fixture, CompactReportsTheSizes) {
  daemon.set_value("archive_bytes", "3145728");
  daemon.on_control("compact", [this] {
    daemon.set_value("archive_bytes", "1048576");
    return 0;
  });
  const auto r = ctl({"compact", mnt.string()});
  EXPECT_EQ(r.exit_code, kCtlOk) << r.err;
  EXPECT_NE(r.out.find(": compacted /srv/a.7z (3.0 MiB -> 1.0 MiB, "), std::string::npos) << r.out;
}

TEST_F(ctl_fixture, WatchPrintsLinesAndStopsWhenTheMountGoes) {
  const auto start = std::chrono::steady_clock::now();
  const auto counted = ctl({"watch", mnt.string(), "--interval=0.05", "--count=3"});
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  EXPECT_EQ(counted.exit_code, kCtlOk) << counted.err;
  EXPECT_EQ(std::count(counted.out.begin(), counted.out.end(), '\n'), 3) << counted.out;
  EXPECT_NE(counted.out.find("Z staged_bytes=2048 committing=0 commit_progress_percent=100 commits_total=3\n"),
            std::string::npos)
      << counted.out;

  environment.terminal = true;
  const auto screen = ctl({"watch", mnt.string(), "--interval=0.01", "--count=2"});
  std::size_t clears = 0;
  for (std::size_t at = 0; (at = screen.out.find("\x1b[H\x1b[2J", at)) != std::string::npos; ++at) ++clears;
  EXPECT_EQ(clears, 2u);
  EXPECT_NE(screen.out.find("staged_bytes"), std::string::npos);

  environment.terminal = false;
  std::jthread unmounter([&] {
    std::this_thread::sleep_for(100ms);
    // As the kernel does it: the mount leaves the table, then reads of the
    // directory find no sevenzfs attributes (the other order raced: a read
    // failing while the table still showed the mount is an error).
    write_mountinfo(mountinfo, {});
    daemon.fail_reads(ENODATA);
  });
  const auto ended = ctl({"watch", mnt.string(), "--interval=0.02"});
  EXPECT_EQ(ended.exit_code, kCtlOk) << ended.err;
  EXPECT_TRUE(ended.out.ends_with(mnt.string() + ": unmounted\n")) << ended.out;
}

// The daemon dies while watched: the mount stays in the table, its reads
// fail with ENOTCONN; watch says so as the other commands do (status 3).
TEST_F(ctl_fixture, WatchSaysWhenTheDaemonIsGone) {
  std::jthread killer([&] {
    std::this_thread::sleep_for(100ms);
    daemon.fail_reads(ENOTCONN);
  });
  const auto r = ctl({"watch", mnt.string(), "--interval=0.02"});
  EXPECT_EQ(r.exit_code, kCtlNotSevenzfs) << r.err;
  EXPECT_NE(r.err.find("the sevenzfs daemon of this mount is gone; `fusermount3 -u " + mnt.string() + "` removes it"),
            std::string::npos)
      << r.err;
}
