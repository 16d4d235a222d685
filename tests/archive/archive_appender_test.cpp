#include "archive/archive_appender.hpp"

#include "archive/archive_checks.hpp"
#include "archive/archive_error.hpp"
#include "archive/file_attributes.hpp"
#include "archive/archive_model.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

namespace fs = std::filesystem;
using namespace sevenzfs::archive;
using namespace sevenzfs::test;

namespace {

std::string content(int commit, int i) {
  std::string text;
  for (int k = 0; k < 200 + i * 37; ++k)
    text += "commit " + std::to_string(commit) + " file " + std::to_string(i) + "\n";
  return text;
}

// A request keeping every archived file under its name, plus `count` new files.
commit_request next_request(const archive_appender& archive, int commit, int count) {
  commit_request request;
  for (std::uint64_t stream = 0; stream < archive.stream_count(); ++stream)
    request.kept_streams.push_back({stream, {}});
  request.entries_without_data.push_back(directory_entry("d"));
  for (int i = 0; i < count; ++i) {
    request.new_files.push_back(
        text_entry("d/c" + std::to_string(commit) + "-" + std::to_string(i) + ".txt", content(commit, i)));
  }
  return request;
}

// Like next_request, but without the first archived file: the archive is
// then written anew, not appended to in place.
commit_request request_written_anew(const archive_appender& archive, int commit) {
  auto request = next_request(archive, commit, 2);
  request.kept_streams.erase(request.kept_streams.begin());
  return request;
}

// 7zz t passes and every file of commits [0, commits) extracts intact.
void expect_commits(const fs::path& archive, int commits, int per_commit) {
  const auto tested = run("7zz t " + quote(archive.string()));
  ASSERT_EQ(tested.exit_code, 0) << tested.output;
  EXPECT_EQ(tested.output.find("There are data after the end"), std::string::npos) << tested.output;
  for (int c = 0; c < commits; ++c) {
    for (int i = 0; i < per_commit; ++i) {
      const std::string name = "d/c" + std::to_string(c) + "-" + std::to_string(i) + ".txt";
      const auto got = run("7zz e -so " + quote(archive.string()) + " " + quote(name));
      ASSERT_EQ(got.output, content(c, i)) << name;
    }
  }
  const auto listed = run("7zz l " + quote(archive.string()) + " | tail -1");
  EXPECT_NE(listed.output.find(std::to_string(commits * per_commit) + " files"), std::string::npos) << listed.output;
}

// The commit after one the archive holds but the appender's state does not
// describe is refused, new files `commit` and all.
void expect_refused_until_mounted_again(archive_appender& archive, int commit) {
  try {
    archive.commit(next_request(archive, commit, 2));
    ADD_FAILURE() << "a commit after an unpublished one went ahead";
  } catch (const archive_error& error) {
    EXPECT_NE(std::string(error.what()).find("until it is mounted again"), std::string::npos) << error.what();
  }
}

}  // namespace

TEST(ArchiveAppender, AppendsWithoutTouchingOldPacks) {
  temp_dir dir;
  const auto path = dir / "a.7z";
  write_options options;
  archive_appender archive(path.string(), options);
  EXPECT_FALSE(archive.exists());
  auto result = archive.commit(next_request(archive, 0, 2));
  EXPECT_EQ(result.stream_index, (std::vector<std::uint64_t>{0, 1}));
  expect_commits(path, 1, 2);

  for (int commit = 1; commit <= 2; ++commit) {
    const std::string before = read_file(path);
    const auto old_packs_end = 32 + [&] {
      std::uint64_t total = archive.database().pack_position;
      for (auto s : archive.database().pack_sizes) total += s;
      return total;
    }();
    result = archive.commit(next_request(archive, commit, 2));
    const std::string after = read_file(path);
    EXPECT_EQ(after.substr(32, old_packs_end - 32), before.substr(32, old_packs_end - 32)) << "old packs changed";
    // The appender's view of the archive is what a fresh read finds.
    const auto on_disk = read_archive(path.string());
    EXPECT_EQ(on_disk.file_size, archive.archive_bytes());
    EXPECT_EQ(on_disk.db.substream_sizes, archive.database().substream_sizes);
    EXPECT_EQ(on_disk.db.pack_sizes, archive.database().pack_sizes);
    EXPECT_EQ(on_disk.db.files.size(), archive.database().files.size());
    EXPECT_EQ(result.stream_index.size(), 2u);
    EXPECT_EQ(std::ranges::min(result.stream_index), static_cast<std::uint64_t>(commit * 2));
    expect_commits(path, commit + 1, 2);
  }
  // Reopening finds everything; bsdtar and py7zr agree.
  archive_appender reopened(path.string(), options);
  EXPECT_EQ(reopened.database().substream_sizes.size(), 6u);
  EXPECT_EQ(run("bsdtar -tf " + quote(path.string()) + " | wc -l").output, "7\n");
  EXPECT_EQ(run("/usr/bin/python3 -c 'import py7zr,sys; a=py7zr.SevenZipFile(sys.argv[1]); print(a.testzip())' " +
                quote(path.string()))
                .output,
            "None\n");
}

// A commit that cannot take the descriptor its snapshot would read through
// (descriptors ran out) fails before its commit point, whichever way it
// writes: the archive, the snapshot and the commits after it are as if it
// had not been tried, and nothing is left beside the archive.
// An empty file (mktemp's) is a new archive, written over by the first
// commit; a file of a few bytes that is no archive is still refused.
TEST(ArchiveAppender, AnEmptyFileIsANewArchive) {
  temp_dir dir;
  const auto path = dir / "a.7z";
  write_file(path, "");
  write_options options;
  archive_appender archive(path.string(), options);
  EXPECT_FALSE(archive.exists());
  archive.commit(next_request(archive, 0, 2));
  expect_commits(path, 1, 2);
  write_file(dir / "b.7z", "7z");
  EXPECT_THROW(archive_appender((dir / "b.7z").string(), options), archive_error);
}

TEST(ArchiveAppender, ACommitThatCannotKeepTheArchiveOpenChangesNothing) {
  temp_dir dir;
  const auto path = dir / "a.7z";
  archive_appender archive(path.string(), {});
  int refusals = 0;  // the hook counts the calls made while it is set
  const auto refused = [&](commit_request request) {
    ::setenv("SEVENZFS_TEST_REFUSE_READER", std::to_string(++refusals).c_str(), 1);
    std::string message;
    try {
      archive.commit(std::move(request));
    } catch (const archive_error& error) {
      message = error.what();
    }
    ::unsetenv("SEVENZFS_TEST_REFUSE_READER");
    return message.find("cannot keep the archive open") != std::string::npos;
  };
  const auto files_in_dir = [&] { return std::distance(fs::directory_iterator(dir.path()), {}); };
  EXPECT_TRUE(refused(next_request(archive, 0, 2)));  // a new archive
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(files_in_dir(), 0);
  archive.commit(next_request(archive, 0, 2));
  const auto first = archive.snapshot();
  const std::string before = read_file(path);
  EXPECT_TRUE(refused(next_request(archive, 1, 2)));  // appended in place
  EXPECT_TRUE(refused(request_written_anew(archive, 1)));
  EXPECT_EQ(read_file(path), before);
  EXPECT_EQ(archive.snapshot(), first);
  EXPECT_EQ(files_in_dir(), 1);
  archive.commit(next_request(archive, 1, 2));
  expect_commits(path, 2, 2);
  EXPECT_EQ(archive.stream_count(), 4u);
}

// A new archive whose rename went through before its commit failed (the
// directory's fsync) is on disk: the commits after it stop, as after one
// whose snapshot could not be published, instead of writing in place into
// a file the mount's state does not describe.
TEST(ArchiveAppender, ACommitThatFailsAfterItsRenameStopsTheCommitsAfterIt) {
  temp_dir dir;
  const auto path = dir / "a.7z";
  archive_appender archive(path.string(), {});
  archive.commit(next_request(archive, 0, 2));
  ::setenv("SEVENZFS_TEST_FAIL_DIRECTORY_SYNC", "1", 1);
  EXPECT_THROW(archive.commit(request_written_anew(archive, 1)), archive_error);
  ::unsetenv("SEVENZFS_TEST_FAIL_DIRECTORY_SYNC");
  expect_refused_until_mounted_again(archive, 2);
  try {
    archive.commit(next_request(archive, 1, 2));
  } catch (const archive_error& error) {
    EXPECT_NE(std::string(error.what()).find("an earlier commit was written"), std::string::npos) << error.what();
  }
  EXPECT_EQ(run("7zz t " + quote(path.string())).exit_code, 0);
  archive_appender reopened(path.string(), {});
  EXPECT_EQ(reopened.stream_count(), 3u);  // the failed commit's state: one kept, two new
}

// Another program's file put where the archive was is not appended to in
// place: our packs and header would not fit its contents.
TEST(ArchiveAppender, AnArchiveReplacedByAnotherFileIsNotWrittenInPlace) {
  temp_dir dir;
  const auto path = dir / "a.7z";
  archive_appender archive(path.string(), {});
  archive.commit(next_request(archive, 0, 2));
  const auto other = dir / "other.7z";
  fs::copy_file(path, other);
  fs::rename(other, path);
  const std::string before = read_file(path);
  try {
    archive.commit(next_request(archive, 1, 2));
    ADD_FAILURE() << "appended in place to another file";
  } catch (const archive_error& error) {
    EXPECT_NE(std::string(error.what()).find("replaced by another file"), std::string::npos) << error.what();
  }
  EXPECT_EQ(read_file(path), before);
  // The commits after it say why they stop, and claim no commit written.
  try {
    archive.commit(next_request(archive, 1, 2));
    ADD_FAILURE() << "committed after the archive was replaced";
  } catch (const archive_error& error) {
    const std::string said = error.what();
    EXPECT_NE(said.find("names another file now"), std::string::npos) << said;
    EXPECT_EQ(said.find("commit was written"), std::string::npos) << said;
  }
  EXPECT_EQ(read_file(path), before);
}

// Publishing a commit's snapshot can still fail after its commit point
// (memory): the commit throws, and so does every commit after it, as its
// caller still numbers streams as the old snapshot does. Opened anew, the
// archive holds what that commit wrote.
TEST(ArchiveAppender, ACommitThatCannotPublishItsSnapshotStopsTheCommitsAfterIt) {
  temp_dir dir;
  const auto path = dir / "a.7z";
  archive_appender archive(path.string(), {});
  archive.commit(next_request(archive, 0, 2));
  const auto first = archive.snapshot();
  ::setenv("SEVENZFS_TEST_FAIL_PUBLISH", "1", 1);
  EXPECT_THROW(archive.commit(next_request(archive, 1, 2)), archive_error);
  ::unsetenv("SEVENZFS_TEST_FAIL_PUBLISH");
  EXPECT_EQ(archive.snapshot(), first);  // still the old one
  expect_refused_until_mounted_again(archive, 2);
  expect_commits(path, 2, 2);  // the unpublished commit's files are there, the refused one's are not
  archive_appender reopened(path.string(), {});
  EXPECT_EQ(reopened.stream_count(), 4u);
}

TEST(ArchiveAppender, RenamesArchivedFilesInTheHeaderOnly) {
  temp_dir dir;
  const auto path = dir / "a.7z";
  archive_appender archive(path.string(), {});
  archive.commit(next_request(archive, 0, 2));
  auto request = next_request(archive, 1, 0);
  request.kept_streams[0].shown = std::make_shared<const entry>(text_entry("d/renamed.txt", ""));
  archive.commit(request);
  EXPECT_EQ(run("7zz e -so " + quote(path.string()) + " d/renamed.txt").output, content(0, 0));
  EXPECT_EQ(run("7zz t " + quote(path.string())).exit_code, 0);
}

TEST(ArchiveAppender, EveryCrashPointLeavesAValidArchive) {
  for (int step = 1; step <= 3; ++step) {
    SCOPED_TRACE(step);
    temp_dir dir;
    const auto path = dir / "a.7z";
    {
      archive_appender archive(path.string(), {});
      archive.commit(next_request(archive, 0, 3));
    }
    const pid_t child = ::fork();
    if (child == 0) {
      ::setenv("SEVENZFS_TEST_EXIT_AFTER_APPEND_STEP", std::to_string(step).c_str(), 1);
      archive_appender archive(path.string(), {});
      archive.commit(next_request(archive, 1, 2));
      ::_exit(0);  // not reached
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 99);
    // Steps 1-2: the old archive; step 3: the new one (its start header was patched).
    const auto tested = run("7zz t " + quote(path.string()));
    ASSERT_EQ(tested.exit_code, 0) << tested.output;
    const int commits = step == 3 ? 2 : 1;
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(run("7zz e -so " + quote(path.string()) + " d/c0-" + std::to_string(i) + ".txt").output, content(0, i));
    }
    EXPECT_EQ(run("bsdtar -tf " + quote(path.string()) + " | wc -l").output,
              std::to_string(1 + 3 + (commits == 2 ? 2 : 0)) + "\n");
    // Our own reader reopens it; the dead bytes the crash left go, and the
    // next commit goes through.
    archive_appender archive(path.string(), {});
    EXPECT_TRUE(archive.has_dead_space()) << "the crash left the header copy behind the packs";
    archive.tidy();
    EXPECT_FALSE(archive.has_dead_space());
    EXPECT_EQ(run("7zz t " + quote(path.string())).exit_code, 0);
    EXPECT_EQ(std::filesystem::file_size(path), archive.archive_bytes());
    EXPECT_FALSE(archive_appender(path.string(), {}).has_dead_space()) << "as read back from disk";
    archive.commit(next_request(archive, 5, 1));
    EXPECT_EQ(run("7zz t " + quote(path.string())).exit_code, 0);
    EXPECT_FALSE(archive_appender(path.string(), {}).has_dead_space());
  }
}

// Step 1 of an in-place commit moves the current header beyond what the
// commit writes: its bytes are copied, not made again (a million files' header
// takes a minute to compress), whether it is plain (one file), compressed by
// sevenzfs (LZMA2) or by 7-Zip (LZMA). A crash right after leaves the old
// archive, read through the moved header.
TEST(ArchiveAppender, StepOneMovesTheHeaderBytesAsTheyAre) {
  struct origin {
    const char* name;
    coder_bytes coder;  // the header's, empty: plain
  };
  for (const auto& [name, coder] :
       {origin{"sevenzfs, one file", {}}, origin{"sevenzfs", kMethodLzma2}, origin{"7zz", kMethodLzma}}) {
    SCOPED_TRACE(name);
    temp_dir dir;
    const auto path = dir / "a.7z";
    const int files = coder.empty() ? 1 : 3;
    if (coder == kMethodLzma) {
      fs::create_directories(dir / "d");
      for (int i = 0; i < files; ++i) write_file(dir / "d" / ("c0-" + std::to_string(i) + ".txt"), content(0, i));
      ASSERT_EQ(run("cd " + quote(dir.path().string()) + " && 7zz a -mx=5 a.7z d").exit_code, 0);
    } else {
      archive_appender archive(path.string(), {});
      archive.commit(next_request(archive, 0, files));
    }
    const auto before = read_archive(path.string());
    ASSERT_EQ(before.header_folder.has_value(), !coder.empty());
    if (!coder.empty()) {
      ASSERT_EQ(before.header_folder->coders().at(0).method_id, coder);
    }
    const std::string bytes = read_file(path);
    const auto header_bytes = [](const std::string& file, const archive_layout& layout) {
      return file.substr(layout.header_start, layout.header_offset + layout.header_size - layout.header_start);
    };

    crash_during("SEVENZFS_TEST_EXIT_AFTER_APPEND_STEP", 1, [&] {
      archive_appender archive(path.string(), {});
      archive.commit(next_request(archive, 1, 2));
    });

    const auto moved = read_archive(path.string());
    EXPECT_GT(moved.header_start, before.header_start);
    if (coder.empty()) {
      EXPECT_EQ(header_bytes(read_file(path), moved), header_bytes(bytes, before)) << "a plain header moves as it is";
    } else {
      ASSERT_TRUE(moved.header_folder.has_value());
      EXPECT_EQ(moved.header_folder->coders().at(0).method_id, coder);
      EXPECT_EQ(read_file(path).substr(moved.header_start, moved.header_offset - moved.header_start),
                bytes.substr(before.header_start, before.header_offset - before.header_start))
          << "the packed header moves as it is";
    }
    const auto tested = run("7zz t " + quote(path.string()));
    ASSERT_EQ(tested.exit_code, 0) << tested.output;
    for (int i = 0; i < files; ++i) {
      EXPECT_EQ(run("7zz e -so " + quote(path.string()) + " d/c0-" + std::to_string(i) + ".txt").output, content(0, i));
    }
    EXPECT_EQ(run("bsdtar -tf " + quote(path.string()) + " | grep -c c0-").output, std::to_string(files) + "\n");
    // The next commit reads it and goes through.
    archive_appender archive(path.string(), {});
    archive.tidy();
    archive.commit(next_request(archive, 1, 2));
    EXPECT_EQ(run("7zz t " + quote(path.string())).exit_code, 0);
    EXPECT_EQ(run("7zz e -so " + quote(path.string()) + " d/c1-1.txt").output, content(1, 1));
  }
}

// A commit that fails after step 1 (a full disk while copying the new packs
// over the old header) leaves the start header on the moved copy; the next
// commit moves that copy, not the old place's bytes, which step 2 overwrote.
TEST(ArchiveAppender, AfterACommitFailsPastStepOneTheNextOneMovesTheHeaderItLeft) {
  temp_dir dir;
  small_tmpfs small(dir / "small", "4m");
  ASSERT_TRUE(small.mounted());
  const auto path = small / "a.7z";
  archive_appender archive(path.string(), {});
  archive.commit(next_request(archive, 0, 3));
  // 1 MiB that does not compress: its pending copy fits, a second copy does not.
  const auto random = noise(1u << 20, 7);
  auto request = next_request(archive, 1, 0);
  entry large = text_entry("d/large.bin", std::string(random.begin(), random.end()));
  request.new_files.push_back(large);
  write_file(small / "filler", std::string((4u << 20) - (1536u << 10) - fs::file_size(path), 'f'));
  EXPECT_THROW(archive.commit(request), archive_error);
  EXPECT_EQ(run("7zz t " + quote(path.string())).exit_code, 0) << "the failed commit left the old archive";
  fs::remove(small / "filler");

  crash_during("SEVENZFS_TEST_EXIT_AFTER_APPEND_STEP", 1, [&] { archive.commit(request); });
  const auto tested = run("7zz t " + quote(path.string()));
  ASSERT_EQ(tested.exit_code, 0) << tested.output;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(run("7zz e -so " + quote(path.string()) + " d/c0-" + std::to_string(i) + ".txt").output, content(0, i));
  }
  archive.commit(request);
  EXPECT_EQ(run("7zz t " + quote(path.string())).exit_code, 0);
  write_file(dir / "large.bin", std::string(random.begin(), random.end()));
  EXPECT_EQ(run("7zz e -so " + quote(path.string()) + " d/large.bin | cmp - " + quote((dir / "large.bin").string()))
                .exit_code,
            0);
}

TEST(ArchiveAppender, CommitsLeaveNoDeadBytes) {
  temp_dir dir;
  const auto path = dir / "a.7z";
  archive_appender archive(path.string(), {});
  archive.commit(next_request(archive, 0, 40));
  for (int commit = 1; commit <= 20; ++commit) {
    auto request = next_request(archive, commit, commit % 2);  // one file, or only a rename
    if (commit % 2 == 0) {
      request.kept_streams[0].shown =
          std::make_shared<const entry>(text_entry("d/renamed-" + std::to_string(commit), ""));
    }
    archive.commit(request);
    const auto on_disk = read_archive(path.string());
    const std::uint64_t header_bytes = on_disk.header_offset + on_disk.header_size - on_disk.header_start;
    ASSERT_EQ(on_disk.header_start, on_disk.packs_end) << "the header follows the packs at commit " << commit;
    ASSERT_EQ(on_disk.file_size, on_disk.packs_end + header_bytes) << "nothing after the header at commit " << commit;
  }
  EXPECT_EQ(run("7zz t " + quote(path.string())).exit_code, 0);
}

TEST(ArchiveAppender, RefusesACorruptArchiveAndLeavesItAlone) {
  temp_dir dir;
  const auto path = dir / "bad.7z";
  write_file(path, "7z\xbc\xaf\x27\x1c garbage that is not an archive");
  const std::string before = read_file(path);
  EXPECT_THROW(archive_appender(path.string(), {}), archive_error);
  EXPECT_EQ(read_file(path), before);
}

// Entries carry no creation or access time: an archived file described anew
// (renamed, chmod-ed) keeps those its header had.
TEST(ArchiveAppender, KeepsCreationAndAccessTimesOfArchivedFiles) {
  temp_dir dir;
  write_file(dir / "a.txt", "alpha\n");
  write_file(dir / "b.txt", "beta\n");
  const auto path = dir / "t.7z";
  ASSERT_EQ(run("cd " + quote(dir.path().string()) + " && 7zz a -mtc=on -mta=on t.7z a.txt b.txt").exit_code, 0);
  const auto times = [&](const std::string& field) {
    const auto listed = run("7zz l -slt " + quote(path.string()) + " | grep '^" + field + " = '");
    return listed.output;
  };
  const auto created = times("Created");
  const auto accessed = times("Accessed");
  ASSERT_EQ(std::ranges::count(created, '\n'), 2) << created;
  archive_appender archive(path.string(), {});
  commit_request request;
  std::uint64_t stream = 0;
  for (const auto& file : archive.database().files) {
    if (file.has_stream)
      request.kept_streams.push_back({stream++, std::make_shared<const entry>(entry_from_file(file, 0, {}))});
  }
  request.new_files.push_back(text_entry("c.txt", "gamma\n"));
  archive.commit(request);
  EXPECT_TRUE(times("Created").starts_with(created)) << times("Created");
  EXPECT_TRUE(times("Accessed").starts_with(accessed)) << times("Accessed");
}
