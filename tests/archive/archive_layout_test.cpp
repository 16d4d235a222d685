#include "archive/archive_layout.hpp"

#include <gtest/gtest.h>

using namespace sevenzfs::archive;
using ranges = std::vector<byte_range>;

TEST(DeadRanges, NothingDeadInAnArchiveAsSevenZipWritesIt) {
  archive_layout layout;
  layout.db.pack_position = 0;
  layout.packs_end = 1032;
  layout.header_start = 1032;  // the packed header
  layout.header_offset = 1132;
  layout.header_size = 30;
  layout.file_size = 1162;
  EXPECT_EQ(dead_ranges(layout), ranges{});
  EXPECT_EQ(dead_bytes(layout), 0u);
}

TEST(DeadRanges, GapsBeforeBetweenAndAfter) {
  archive_layout layout;
  layout.db.pack_position = 8;  // packs start at 40
  layout.packs_end = 140;
  layout.header_start = 150;
  layout.header_offset = 200;
  layout.header_size = 50;
  layout.file_size = 300;
  EXPECT_EQ(dead_ranges(layout), (ranges{{32, 8}, {140, 10}, {250, 50}}));
  EXPECT_EQ(dead_bytes(layout), 68u);
}

TEST(DeadRanges, AnArchiveWithoutPacksOrHeader) {
  archive_layout empty;  // the 32-byte empty archive
  EXPECT_EQ(dead_ranges(empty), ranges{});
  archive_layout directories;  // a header only, after a stale copy of an older one
  directories.header_start = 100;
  directories.header_offset = 100;
  directories.header_size = 20;
  directories.file_size = 120;
  EXPECT_EQ(dead_ranges(directories), (ranges{{32, 68}}));
}
