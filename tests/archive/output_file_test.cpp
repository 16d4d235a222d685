#include "archive/output_file.hpp"

#include "archive/archive_appender.hpp"
#include "archive/archive_error.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace sevenzfs::archive;
using namespace sevenzfs::test;

namespace {

constexpr uid_t kNobody = 65534;

struct stat stat_of(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw std::runtime_error("cannot stat " + path.string());
  return st;
}

// Sets the umask for one scope.
class scoped_umask {
 public:
  explicit scoped_umask(mode_t mask) : old_(::umask(mask)) {}
  ~scoped_umask() { ::umask(old_); }
  scoped_umask(const scoped_umask&) = delete;
  scoped_umask& operator=(const scoped_umask&) = delete;

 private:
  mode_t old_;
};

void write_and_commit(const fs::path& path) {
  output_file out(path.string());
  out.append(bytes_of("content"));
  out.commit();
}

// The one temporary beside `final_path` (its name is final_path.tmp-XXXXXX).
fs::path temporary_of(const fs::path& final_path) {
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(final_path.parent_path())) {
    if (e.path().filename().string().starts_with(final_path.filename().string() + ".tmp-")) found.push_back(e.path());
  }
  if (found.size() != 1) throw std::runtime_error("expected one temporary file");
  return found.front();
}

}  // namespace

TEST(OutputFile, ANewArchiveFollowsTheUmask) {
  temp_dir dir;
  for (const auto& [mask, mode] : {std::pair<mode_t, mode_t>{027, 0640}, {022, 0644}, {077, 0600}, {0, 0666}}) {
    SCOPED_TRACE(mask);
    const scoped_umask umask(mask);
    const auto path = dir / ("new-" + std::to_string(mask) + ".7z");
    write_and_commit(path);
    EXPECT_EQ(stat_of(path).st_mode & 07777, mode);
    EXPECT_EQ(read_file(path), "content");
  }
}

TEST(OutputFile, TemporariesArePrivateWhileWritten) {
  temp_dir dir;
  const scoped_umask umask(0);
  const auto path = dir / "a.7z";
  {
    output_file out(path.string());
    out.append(bytes_of("secret"));
    EXPECT_EQ(stat_of(temporary_of(path)).st_mode & 07777, 0600u);
    // A pending file is never committed: it stays private and goes away.
    output_file pending(path.string() + ".pending");
    EXPECT_EQ(stat_of(temporary_of(dir / "a.7z.pending")).st_mode & 07777, 0600u);
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

// With no descriptor left, a commit fails before its rename: the directory
// it fsyncs after the rename is opened first. The old archive stays, as
// after any failure before the commit point. (Opened after the rename, the
// archive held a commit its writer had to report as failed, and the daemon
// refused every later commit until it was mounted again.)
TEST(OutputFile, WithoutADescriptorLeftACommitFailsBeforeItsRename) {
  temp_dir dir;
  const auto path = dir / "a.7z";
  write_and_commit(path);
  {
    output_file out(path.string());
    out.append(bytes_of("replacement"));
    rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
    std::vector<unique_fd> taken;
    {
      // A low soft limit, so that taking every descriptor is quick.
      rlimit low = old;
      low.rlim_cur = std::min<rlim_t>(old.rlim_cur, 256);
      ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
      for (unique_fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); fd;
           fd = unique_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC))) {
        taken.push_back(std::move(fd));
      }
      const int error = errno;
      bool threw = false;
      try {
        out.commit();
      } catch (const archive_error& e) {
        threw = std::string(e.what()).find("cannot open directory") != std::string::npos;
      }
      taken.clear();
      ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
      ASSERT_EQ(error, EMFILE);
      EXPECT_TRUE(threw) << "the commit failed for want of the directory's descriptor";
    }
    EXPECT_EQ(read_file(path), "content") << "the old archive is in place";
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1) << "no temporary left";
}

TEST(OutputFile, ReplacingAnArchiveKeepsItsModeAndOwner) {
  if (::geteuid() != 0) GTEST_SKIP() << "giving a file to another owner needs root";
  temp_dir dir;
  const scoped_umask umask(022);
  const auto path = dir / "kept.7z";
  write_file(path, "old");
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  ASSERT_EQ(::chown(path.c_str(), kNobody, kNobody), 0);
  write_and_commit(path);
  const auto st = stat_of(path);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_EQ(st.st_gid, kNobody);
  EXPECT_EQ(read_file(path), "content");

  ASSERT_EQ(::chmod(path.c_str(), 0664), 0);
  write_and_commit(path);
  EXPECT_EQ(stat_of(path).st_mode & 07777, 0664u);
}

// The case: an empty 0600 archive owned by nobody, filled by a
// mount's first commit (which replaces it whole), stayed 0600 nobody.
TEST(OutputFile, AFirstCommitIntoAnEmptyArchiveKeepsItsModeAndOwner) {
  if (::geteuid() != 0) GTEST_SKIP() << "giving a file to another owner needs root";
  temp_dir dir;
  const scoped_umask umask(022);
  const auto path = dir / "empty.7z";
  write_archive(path.string(), {}, {});
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  ASSERT_EQ(::chown(path.c_str(), kNobody, kNobody), 0);
  archive_appender appender(path.string(), {});
  entry file;
  file.path = "private.txt";
  file.mode = 0600;
  file.size = 6;
  file.content = std::make_shared<memory_content>(std::string_view("secret"));
  appender.commit({{}, {}, {file}});
  const auto st = stat_of(path);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_EQ(st.st_gid, kNobody);
  EXPECT_EQ(appender.database().files.size(), 1u);
}

// Ranges that continue each other in one file are copied as one; the bytes
// land in the order given either way, and the position counts them at flush.
TEST(OutputFile, JoinedCopiesAppendTheRangesInOrder) {
  temp_dir dir;
  write_file(dir / "a", "0123456789");
  write_file(dir / "b", "abcdef");
  const unique_fd a(::open((dir / "a").c_str(), O_RDONLY | O_CLOEXEC));
  const unique_fd b(::open((dir / "b").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(a && b);
  output_file out((dir / "out").string());
  out.append(bytes_of(">"));
  joined_copy copy(out);
  copy.add(a.get(), 0, 3, "a");  // 012
  copy.add(a.get(), 3, 2, "a");  // 34: continues it
  copy.add(b.get(), 5, 1, "b");  // f: another file
  copy.add(b.get(), 2, 2, "b");  // cd: does not continue it
  copy.add(a.get(), 9, 1, "a");  // 9
  EXPECT_EQ(out.position(), 9u) << "the last range waits for flush";
  copy.flush();
  EXPECT_EQ(out.position(), 10u);
  out.commit();
  EXPECT_EQ(read_file(dir / "out"), ">01234fcd9");
}
