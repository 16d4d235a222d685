// archive_snapshot: where folders and substreams lie, consistency checks of a
// described database, and staying valid while the file changes under it.
#include "archive/archive_snapshot.hpp"

#include "archive/archive_error.hpp"
#include "archive/archive_writer.hpp"
#include "archive/cached_reader.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>

#include <filesystem>
#include <fstream>

using namespace sevenzfs::archive;
using namespace sevenzfs::test;

namespace {

entry text_file(std::string path, std::string text) {
  entry e;
  e.path = std::move(path);
  e.mode = 0644;
  e.mtime = {1'700'000'000, 0};
  e.size = text.size();
  if (!text.empty()) e.content = std::make_shared<memory_content>(text);
  return e;
}

void write(const std::string& path, const std::vector<entry>& entries, pack_mode mode = pack_mode::solid) {
  write_options options;
  options.plan.mode = mode;
  write_archive(path, entries, options);
}

std::string read_all(cached_reader& reader, const archive_snapshot& snapshot, std::uint64_t substream) {
  std::string text(snapshot.substream(substream).size, '\0');
  const auto n =
      reader.read(snapshot, substream, 0, std::span(reinterpret_cast<std::uint8_t*>(text.data()), text.size()));
  text.resize(n);
  return text;
}

unique_fd open_read_only(const std::string& path) { return unique_fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)); }

}  // namespace

TEST(ArchiveSnapshot, LaysOutFoldersAndSubstreams) {
  temp_dir dir;
  const auto path = (dir / "a.7z").string();
  write(path,
        {{"d", entry_kind::directory, 0755, {}, 0, nullptr},
         text_file("d/a", "alpha"),
         text_file("d/e", ""),
         text_file("d/b", std::string(5000, 'b')),
         text_file("c", "gamma")},
        pack_mode::batched);
  const auto snapshot = archive_snapshot::open(path);
  const auto& db = snapshot->database();
  ASSERT_EQ(snapshot->folder_count(), 3u);
  ASSERT_EQ(snapshot->substream_count(), 3u);
  EXPECT_EQ(snapshot->folder(0).packs.at(0).offset, 32 + db.pack_position);
  EXPECT_EQ(snapshot->folder(1).packs.at(0).offset, 32 + db.pack_position + db.pack_sizes[0]);
  for (std::uint64_t s = 0; s < 3; ++s) {
    EXPECT_EQ(snapshot->substream(s).folder, s);
    EXPECT_EQ(snapshot->substream(s).offset, 0u);
    const auto file = snapshot->file_of_substream(s);
    ASSERT_TRUE(file.has_value());
    EXPECT_EQ(snapshot->substream_of_file(*file), s);
    EXPECT_EQ(snapshot->substream_name(s), db.files[*file].name);
    EXPECT_EQ(snapshot->verdict(s), archive_snapshot::crc_verdict::unchecked);
  }
  // Directories and empty files have no substream.
  for (std::size_t f = 0; f < db.files.size(); ++f) {
    EXPECT_EQ(snapshot->substream_of_file(f).has_value(), db.files[f].has_stream) << db.files[f].name;
  }
  EXPECT_EQ(snapshot->unsupported_method(0), std::nullopt);
  EXPECT_NE(snapshot->id(), archive_snapshot::open(path)->id());
}

TEST(ArchiveSnapshot, SolidFolderOffsets) {
  temp_dir dir;
  const auto path = (dir / "s.7z").string();
  write(path, {text_file("a.txt", "one"), text_file("b.txt", "three"), text_file("c.txt", "fifteen")});
  const auto snapshot = archive_snapshot::open(path);
  ASSERT_EQ(snapshot->folder_count(), 1u);
  EXPECT_EQ(snapshot->folder(0).substream_count, 3u);
  std::uint64_t offset = 0;
  for (std::uint64_t s = 0; s < 3; ++s) {
    EXPECT_EQ(snapshot->substream(s).offset, offset);
    offset += snapshot->substream(s).size;
  }
  EXPECT_EQ(offset, 15u);
}

TEST(ArchiveSnapshot, StaysValidWhenTheFileIsReplacedOrAppendedTo) {
  temp_dir dir;
  const auto path = (dir / "a.7z").string();
  write(path, {text_file("old.txt", "the old content")});
  const auto snapshot = archive_snapshot::open(path);
  cached_reader reader;
  // Appended to (as a commit does past the old header), then replaced by
  // rename (as a compaction does): the snapshot keeps its own descriptor.
  {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out << std::string(100'000, 'x');
  }
  EXPECT_EQ(read_all(reader, *snapshot, 0), "the old content");
  write((dir / "new.7z").string(), {text_file("new.txt", "entirely different")});
  std::filesystem::rename(dir / "new.7z", path);
  EXPECT_EQ(read_all(reader, *snapshot, 0), "the old content");
  const auto fresh = archive_snapshot::open(path);
  EXPECT_EQ(read_all(reader, *fresh, 0), "entirely different");
}

TEST(ArchiveSnapshot, DescribedDatabaseIsChecked) {
  temp_dir dir;
  const auto path = (dir / "a.7z").string();
  write(path, {text_file("a", "alpha"), text_file("b", "beta")}, pack_mode::batched);
  const auto good = read_archive(path).db;
  EXPECT_NO_THROW(archive_snapshot::from(open_read_only(path), path, archive_database(good)));
  const auto expect_corrupt = [&](archive_database db, const char* what) {
    const std::size_t folders = db.folders.size();
    try {
      archive_snapshot::from(open_read_only(path), path, std::move(db));
      ADD_FAILURE() << "accepted: " << what;
    } catch (const archive_error& error) {
      // Refused, the database is still the caller's (the appender keeps no other copy).
      EXPECT_EQ(db.folders.size(), folders) << what;
      EXPECT_EQ(error.kind(), error_kind::corrupt_archive) << what;
    }
  };
  auto db = good;
  db.pack_sizes[1] += 1'000'000;
  expect_corrupt(db, "packed data past the end of the file");
  db = good;
  db.pack_sizes.push_back(1);
  expect_corrupt(db, "an unused pack stream");
  db = good;
  db.substream_sizes[0] += 1;
  expect_corrupt(db, "a substream larger than its folder");
  db = good;
  db.substream_counts[0] = 2;
  expect_corrupt(db, "more substreams than sizes");
  db = good;
  db.substream_crcs.pop_back();
  expect_corrupt(db, "CRCs missing");
  db = good;
  db.files.back().has_stream = false;
  expect_corrupt(db, "files not matching the substreams");
  db = good;
  db.pack_position = UINT64_MAX - 8;
  expect_corrupt(db, "pack position overflowing");
  // Without file entries the streams are named by number.
  db = good;
  db.files.clear();
  EXPECT_EQ(archive_snapshot::from(open_read_only(path), path, std::move(db))->substream_name(1), "stream 1");
  try {
    archive_snapshot::from(unique_fd(), path, archive_database(good));
    ADD_FAILURE() << "accepted no descriptor";
  } catch (const archive_error& error) {
    EXPECT_EQ(error.kind(), error_kind::invalid_input);
  }
}
