// sevenzfs-pack's command line run in-process: bad input gets a one-line
// error naming the path, a distinct exit code, and leaves no file behind.
#include "tools/pack_command.hpp"

#include "fs/archive_lock.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <cstdio>

namespace fs = std::filesystem;
using namespace sevenzfs::test;
using sevenzfs::tools::pack_main;

namespace {

struct pack_run {
  int exit_code;
  std::string out;
  std::string err;
};

pack_run pack(const std::vector<std::string>& args) {
  char* out_text = nullptr;
  char* err_text = nullptr;
  std::size_t out_size = 0;
  std::size_t err_size = 0;
  FILE* out = ::open_memstream(&out_text, &out_size);
  FILE* err = ::open_memstream(&err_text, &err_size);
  const int code = pack_main(args, out, err);
  std::fclose(out);
  std::fclose(err);
  pack_run result{code, out_text, err_text};
  std::free(out_text);
  std::free(err_text);
  return result;
}

std::size_t entries_in(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), {}));
}

}  // namespace

TEST(PackCommand, HelpDescribesEveryOption) {
  const auto r = pack({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* option :
       {"--mode", "--level", "--solid-block", "--solid-files", "--hybrid-threshold", "--threads"}) {
    EXPECT_NE(r.out.find(option), std::string::npos) << option;
  }
}

TEST(PackCommand, InvalidOptionValuesAreUsageErrors) {
  temp_dir dir;
  write_file(dir / "f", "x");
  const auto out = (dir / "o.7z").string();
  const auto in = (dir / "f").string();
  const std::vector<std::vector<std::string>> cases = {{"--mode", "fast", out, in},
                                                       {"--level", "10", out, in},
                                                       {"--level", "x", out, in},
                                                       {"--threads", "0", out, in},
                                                       {"--solid-block", "12Q", out, in},
                                                       {"--bogus", out, in},
                                                       {"--level=", out, in},
                                                       {"--level=x", out, in},
                                                       {"--threads=0", out, in},
                                                       {"--help=1", out, in},
                                                       {"-q", out, in},
                                                       {out},
                                                       {"--level"}};
  for (const auto& args : cases) {
    const auto r = pack(args);
    EXPECT_EQ(r.exit_code, sevenzfs::tools::kPackUsage) << args[0];
    EXPECT_NE(r.err.find("sevenzfs-pack: "), std::string::npos);
  }
  EXPECT_EQ(entries_in(dir.path()), 1u);
}

TEST(PackCommand, MissingInputNamesThePath) {
  temp_dir dir;
  const auto missing = (dir / "no-such-file").string();
  const auto r = pack({(dir / "o.7z").string(), missing});
  EXPECT_EQ(r.exit_code, sevenzfs::tools::kPackFailed);
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line";
  EXPECT_EQ(entries_in(dir.path()), 0u);
}

// `sevenzfs-pack notes.txt backup.7z` (arguments swapped) and `sevenzfs-pack
// f f` replaced the file with an archive; an archive or an empty file
// (mktemp's) is still replaced.
TEST(PackCommand, AnExistingFileThatIsNotAnArchiveIsNotReplaced) {
  temp_dir dir;
  const auto notes = dir / "notes.txt";
  write_file(notes, "precious\n");
  write_file(dir / "f", "x");
  for (const auto& input : {dir / "f", notes}) {
    const auto r = pack({notes.string(), input.string()});
    EXPECT_EQ(r.exit_code, sevenzfs::tools::kPackFailed);
    EXPECT_EQ(r.err, "sevenzfs-pack: " + notes.string() +
                         ": exists and is not a 7z archive; not replacing it (remove it first)\n");
    EXPECT_EQ(read_file(notes), "precious\n");
  }
  EXPECT_EQ(entries_in(dir.path()), 2u) << "nothing else left behind";
  const auto fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto r = pack({fifo.string(), (dir / "f").string()});
  EXPECT_EQ(r.exit_code, sevenzfs::tools::kPackFailed);
  EXPECT_NE(r.err.find("exists and is not a regular file; not replacing it"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_fifo(fifo));
  const auto archive = dir / "a.7z";
  write_file(archive, "");
  EXPECT_EQ(pack({archive.string(), (dir / "f").string()}).exit_code, sevenzfs::tools::kPackOk);
  EXPECT_EQ(pack({archive.string(), notes.string()}).exit_code, sevenzfs::tools::kPackOk);
  EXPECT_NE(run("7zz l " + quote(archive.string())).output.find("notes.txt"), std::string::npos);
}

// An archive a daemon has mounted (it holds the archive's lock) is not
// replaced: that mount would commit no more. Once the lock is let go, it is.
TEST(PackCommand, AMountedArchiveIsNotReplaced) {
  temp_dir dir;
  write_file(dir / "f", "x");
  const auto archive = dir / "a.7z";
  ASSERT_EQ(pack({archive.string(), (dir / "f").string()}).exit_code, sevenzfs::tools::kPackOk);
  const std::string before = read_file(archive);
  {
    auto lock = sevenzfs::fs::archive_lock::take(archive.string(), "/mnt/a", false);
    ASSERT_TRUE(lock) << lock.error().message;
    const auto r = pack({archive.string(), (dir / "f").string()});
    EXPECT_EQ(r.exit_code, sevenzfs::tools::kPackFailed);
    EXPECT_NE(r.err.find(": is mounted by sevenzfs (pid " + std::to_string(::getpid()) + ", mounted on /mnt/a)"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(read_file(archive), before);
  }
  EXPECT_EQ(pack({archive.string(), (dir / "f").string()}).exit_code, sevenzfs::tools::kPackOk);
  // A mount whose archive does not exist yet: its first commit would
  // replace what was packed.
  const auto fresh = dir / "fresh.7z";
  auto lock = sevenzfs::fs::archive_lock::take(fresh.string(), "/mnt/fresh", false);
  ASSERT_TRUE(lock) << lock.error().message;
  const auto r = pack({fresh.string(), (dir / "f").string()});
  EXPECT_EQ(r.exit_code, sevenzfs::tools::kPackFailed);
  EXPECT_NE(r.err.find("is mounted by sevenzfs"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(fresh));
}

// Ctrl-C, SIGTERM or SIGHUP while the program writes: the temporary archive
// is removed (it was left behind), and the program ends by that signal.
TEST(PackCommand, ASignalWhileWritingLeavesNothingBehind) {
  temp_dir dir;
  std::string text;
  for (std::uint64_t i = 0; text.size() < (2u << 20); ++i)
    text += std::to_string(i * 2654435761u % 1000003) + " line\n";
  write_file(dir / "in.txt", text);
  const auto err = dir.path().parent_path() / (dir.path().filename().string() + ".err");
  // Starts the program writing out.7z; `ignored` is ignored in it, as nohup ignores SIGHUP.
  const auto start = [&](int ignored) {
    const int err_fd = ::open(err.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    const std::string out = (dir / "out.7z").string();
    const std::string in = (dir / "in.txt").string();
    const pid_t child = ::fork();
    if (child == 0) {
      ::dup2(err_fd, 2);
      if (ignored != 0) ::signal(ignored, SIG_IGN);
      ::execl(pack_binary().c_str(), "sevenzfs-pack", "--level", "9", "--threads", "1", out.c_str(), in.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(err_fd);
    return child;
  };
  const auto writing = [&] {
    for (const auto& item : fs::directory_iterator(dir.path())) {
      if (item.path().filename().string().starts_with("out.7z.tmp-")) return true;
    }
    return false;
  };
  for (const int signal : {SIGINT, SIGTERM, SIGHUP}) {
    const pid_t child = start(0);
    ASSERT_GE(child, 0);
    EXPECT_TRUE(eventually(writing)) << "no temporary appeared";
    ::kill(child, signal);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == signal) << status;
    EXPECT_EQ(entries_in(dir.path()), 1u) << "only the input is left";
    EXPECT_NE(read_file(err).find("the unfinished archive is removed"), std::string::npos) << read_file(err);
  }
  // Under nohup, SIGHUP stays ignored: the archive is written.
  const pid_t child = start(SIGHUP);
  ASSERT_GE(child, 0);
  EXPECT_TRUE(eventually(writing)) << "no temporary appeared";
  ::kill(child, SIGHUP);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << read_file(err);
  EXPECT_EQ(run("7zz t " + quote((dir / "out.7z").string())).exit_code, 0);
  fs::remove(err);
}

TEST(PackCommand, MissingOutputDirectoryNamesIt) {
  temp_dir dir;
  write_file(dir / "f", "x");
  const auto r = pack({(dir / "nope" / "o.7z").string(), (dir / "f").string()});
  EXPECT_EQ(r.exit_code, sevenzfs::tools::kPackFailed);
  EXPECT_NE(r.err.find((dir / "nope").string()), std::string::npos) << r.err;
}

TEST(PackCommand, AnOutputThatIsADirectoryIsRefusedBeforeAnyWork) {
  temp_dir dir;
  fs::create_directories(dir / "out");
  write_file(dir / "f", "x");
  const auto r = pack({(dir / "out").string(), (dir / "f").string()});
  EXPECT_EQ(r.exit_code, sevenzfs::tools::kPackFailed);
  EXPECT_EQ(r.err,
            "sevenzfs-pack: " + (dir / "out").string() + ": is a directory; OUT names the archive file to write\n");
  EXPECT_EQ(entries_in(dir / "out"), 0u);
  EXPECT_EQ(entries_in(dir.path()), 2u);
}

// As path resolution has it (and cp -r, tar): "link/" is the directory the
// link points to, "link" the link itself, "file/" not a directory.
TEST(PackCommand, ASymlinkToADirectoryGivenWithATrailingSlashIsFollowed) {
  temp_dir dir;
  fs::create_directories(dir / "real" / "sub");
  write_file(dir / "real" / "sub" / "a.txt", "alpha");
  fs::create_directory_symlink("real", dir / "link");
  const auto followed = dir / "followed.7z";
  ASSERT_EQ(pack({followed.string(), (dir / "link").string() + "/"}).exit_code, sevenzfs::tools::kPackOk);
  const auto listed = run("bsdtar -tvf " + quote(followed.string()));
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_EQ(listed.output.rfind("d", 0), 0u) << "link/ is stored as a directory:\n" << listed.output;
  EXPECT_NE(listed.output.find("link/sub/a.txt"), std::string::npos) << listed.output;
  const auto as_link = dir / "link.7z";
  ASSERT_EQ(pack({as_link.string(), (dir / "link").string()}).exit_code, sevenzfs::tools::kPackOk);
  const auto link_listed = run("bsdtar -tvf " + quote(as_link.string()));
  EXPECT_EQ(link_listed.output.rfind("l", 0), 0u) << link_listed.output;
  EXPECT_NE(link_listed.output.find("link -> real"), std::string::npos) << link_listed.output;
  EXPECT_EQ(link_listed.output.find("a.txt"), std::string::npos) << link_listed.output;
  const auto r = pack({(dir / "file.7z").string(), (dir / "real" / "sub" / "a.txt").string() + "/"});
  EXPECT_EQ(r.exit_code, sevenzfs::tools::kPackFailed);
  EXPECT_NE(r.err.find("Not a directory"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "file.7z"));
}

TEST(PackCommand, UnsupportedFileInTheMiddleOfATreeLeavesNoArchive) {
  temp_dir dir;
  fs::create_directories(dir / "src" / "sub");
  write_file(dir / "src" / "a.txt", "a");
  write_file(dir / "src" / "sub" / "z.txt", "z");
  ASSERT_EQ(::mkfifo((dir / "src" / "sub" / "m-fifo").c_str(), 0644), 0);
  ASSERT_EQ(pack({(dir / "old.7z").string(), (dir / "src" / "a.txt").string()}).exit_code, sevenzfs::tools::kPackOk);
  const std::string previous = read_file(dir / "old.7z");
  const auto r = pack({(dir / "old.7z").string(), (dir / "src").string()});
  EXPECT_EQ(r.exit_code, sevenzfs::tools::kPackFailed);
  EXPECT_NE(r.err.find("m-fifo"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(dir / "old.7z"), previous);
  EXPECT_EQ(entries_in(dir.path()), 2u);
}

TEST(PackCommand, UnreadableFileLeavesNoArchive) {
  if (::geteuid() == 0 && run("command -v setpriv").exit_code != 0) GTEST_SKIP() << "root without setpriv";
  temp_dir dir;
  fs::permissions(dir.path(), static_cast<fs::perms>(0777));
  fs::create_directories(dir / "src");
  write_file(dir / "src" / "a.txt", "a");
  write_file(dir / "src" / "locked.txt", "no");
  fs::permissions(dir / "src" / "locked.txt", static_cast<fs::perms>(0));
  // Run as an unprivileged user: root would read the file anyway.
  const auto r = run("setpriv --reuid=65534 --regid=65534 --clear-groups " + pack_binary() + " " +
                     quote((dir / "o.7z").string()) + " " + quote((dir / "src").string()));
  EXPECT_EQ(r.exit_code, sevenzfs::tools::kPackFailed) << r.output;
  EXPECT_NE(r.output.find("locked.txt"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "o.7z"));
  EXPECT_EQ(entries_in(dir.path()), 1u);
}

TEST(PackCommand, DuplicateArchivePathsAreRefused) {
  temp_dir dir;
  fs::create_directories(dir / "a" / "x");
  fs::create_directories(dir / "b" / "x");
  const auto r = pack({(dir / "o.7z").string(), (dir / "a" / "x").string(), (dir / "b" / "x").string()});
  EXPECT_EQ(r.exit_code, sevenzfs::tools::kPackFailed);
  EXPECT_NE(r.err.find("same archive path"), std::string::npos) << r.err;
}

TEST(PackCommand, SummaryLineOnSuccess) {
  temp_dir dir;
  write_file(dir / "f.txt", std::string(10000, 'x'));
  const auto r = pack({"--level", "9", (dir / "o.7z").string(), (dir / "f.txt").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("o.7z: 1 entry, 1 folder, 10000 bytes in, "), std::string::npos) << r.out;
  EXPECT_EQ(run("7zz t " + quote((dir / "o.7z").string())).exit_code, 0);
}

TEST(PackCommand, OptionValuesTakeBothForms) {
  temp_dir dir;
  write_file(dir / "f.txt", std::string(5000, 'y'));
  const auto in = (dir / "f.txt").string();
  // --opt=value, --opt value, and options after the positional arguments.
  const std::vector<std::vector<std::string>> forms = {
      {"--level=9", "--mode=batched", "--threads=2", (dir / "a.7z").string(), in},
      {"--level", "9", "--mode", "batched", "--threads", "2", (dir / "b.7z").string(), in},
      {(dir / "c.7z").string(), in, "--level=9", "--mode", "batched", "--threads=2"}};
  for (const auto& args : forms) {
    const auto r = pack(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  // Same options, same engine: the three archives are identical.
  EXPECT_EQ(read_file(dir / "a.7z"), read_file(dir / "b.7z"));
  EXPECT_EQ(read_file(dir / "a.7z"), read_file(dir / "c.7z"));
  // --level=0 stores: the 5000 bytes are in the archive as they are.
  ASSERT_EQ(pack({"--level=0", (dir / "d.7z").string(), in}).exit_code, 0);
  EXPECT_NE(read_file(dir / "d.7z").find(std::string(5000, 'y')), std::string::npos);
  EXPECT_EQ(read_file(dir / "a.7z").find(std::string(5000, 'y')), std::string::npos);
}

TEST(PackCommand, DoubleDashEndsOptions) {
  temp_dir dir;
  write_file(dir / "-dash.txt", "dash");
  const fs::path cwd = fs::current_path();
  fs::current_path(dir.path());
  const auto r = pack({"--level=1", "--", "o.7z", "-dash.txt"});
  fs::current_path(cwd);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(run("7zz t " + quote((dir / "o.7z").string())).exit_code, 0);
  EXPECT_NE(run("7zz l " + quote((dir / "o.7z").string())).output.find("-dash.txt"), std::string::npos);
}

TEST(PackCommand, VersionAndThreadsDefault) {
  const auto r = pack({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("sevenzfs-pack ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find('.'), std::string::npos) << r.out;
  EXPECT_EQ(pack({"-V"}).out, r.out);
  EXPECT_NE(pack({"--help"}).out.find("default: the number of cores"), std::string::npos);
}
