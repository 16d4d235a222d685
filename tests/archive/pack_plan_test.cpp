#include "archive/pack_plan.hpp"

#include <gtest/gtest.h>

#include <set>

using namespace sevenzfs::archive;

namespace {

entry file(std::string path, std::uint64_t size) {
  entry e;
  e.path = std::move(path);
  e.size = size;
  return e;
}

std::vector<entry> sample() {
  std::vector<entry> entries;
  entries.push_back({"d", entry_kind::directory, 0755, {}, 0, nullptr});
  entries.push_back(file("d/empty", 0));
  for (int i = 0; i < 30; ++i) {
    entries.push_back(file("d/f" + std::to_string(i) +
                               (i % 3 == 0   ? ".json"
                                : i % 3 == 1 ? ".log"
                                             : ""),
                           static_cast<std::uint64_t>(100 + i * 1000)));
  }
  entries.push_back(file("big.bin", 5 << 20));
  return entries;
}

// Every non-empty file in exactly one folder; nothing else in any folder.
void expect_each_file_once(const std::vector<entry>& entries, const std::vector<folder_plan>& plan) {
  std::multiset<std::size_t> seen;
  for (const auto& folder : plan) {
    std::uint64_t bytes = 0;
    EXPECT_FALSE(folder.entries.empty());
    for (auto i : folder.entries) {
      seen.insert(i);
      bytes += entries[i].size;
    }
    EXPECT_EQ(bytes, folder.unpack_size);
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const bool needs_stream = entries[i].kind != entry_kind::directory && entries[i].size > 0;
    EXPECT_EQ(seen.count(i), needs_stream ? 1u : 0u) << entries[i].path;
  }
}

}  // namespace

TEST(PackPlan, BatchedIsOneFolderPerFile) {
  const auto entries = sample();
  const auto plan = plan_folders(entries, {pack_mode::batched, 0, 0, 0});
  EXPECT_EQ(plan.size(), 31u);
  for (const auto& folder : plan) EXPECT_EQ(folder.entries.size(), 1u);
  expect_each_file_once(entries, plan);
}

TEST(PackPlan, SolidWithoutLimitsIsOneFolderGroupedByExtension) {
  const auto entries = sample();
  const auto plan = plan_folders(entries, {pack_mode::solid, 0, 0, 0});
  ASSERT_EQ(plan.size(), 1u);
  expect_each_file_once(entries, plan);
  // Extensions come together: no extension, then bin, json, log.
  std::vector<std::string> order;
  for (auto i : plan[0].entries) {
    const auto& p = entries[i].path;
    const auto dot = p.rfind('.');
    const std::string ext = dot == std::string::npos ? "" : p.substr(dot + 1);
    if (order.empty() || order.back() != ext) order.push_back(ext);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"", "bin", "json", "log"}));
}

// Within an extension a directory's files stay together, in name order,
// and so does a subtree: a source tree's neighbours (a library's headers)
// are its best matches, while the same name in other directories
// (config.hpp of every library) is mostly another file.
TEST(PackPlan, SolidKeepsADirectorysFilesTogetherWithinAnExtension) {
  std::vector<entry> entries;
  for (const char* path : {"b/y.h", "a-x/x.h", "a/y.h", "b/x.h", "a/x.h", "a/x.c", "a/sub/x.h"}) {
    entries.push_back(file(path, 10));
  }
  const auto plan = plan_folders(entries, {pack_mode::solid, 0, 0, 0});
  ASSERT_EQ(plan.size(), 1u);
  std::vector<std::string> order;
  for (auto i : plan[0].entries) order.push_back(entries[i].path);
  EXPECT_EQ(order, (std::vector<std::string>{"a/x.c", "a/x.h", "a/y.h", "a/sub/x.h", "a-x/x.h", "b/x.h", "b/y.h"}));
}

TEST(PackPlan, SolidRespectsByteAndFileLimits) {
  const auto entries = sample();
  const auto by_bytes = plan_folders(entries, {pack_mode::solid, 50000, 0, 0});
  expect_each_file_once(entries, by_bytes);
  for (const auto& folder : by_bytes) {
    // A folder goes over the limit only when a single file is larger than it.
    EXPECT_TRUE(folder.unpack_size <= 50000 || folder.entries.size() == 1);
  }
  const auto by_files = plan_folders(entries, {pack_mode::solid, 0, 4, 0});
  expect_each_file_once(entries, by_files);
  EXPECT_EQ(by_files.size(), 8u);  // 31 files, 4 per folder
  for (const auto& folder : by_files) EXPECT_LE(folder.entries.size(), 4u);
}

TEST(PackPlan, HybridBatchesLargeFiles) {
  const auto entries = sample();
  const auto plan = plan_folders(entries, {pack_mode::hybrid, 0, 0, 20000});
  expect_each_file_once(entries, plan);
  for (const auto& folder : plan) {
    if (folder.entries.size() > 1) {
      for (auto i : folder.entries) EXPECT_LT(entries[i].size, 20000u);
    } else {
      EXPECT_GE(entries[folder.entries[0]].size, 20000u);
    }
  }
  EXPECT_EQ(plan.size(), 1 + 10u + 1);  // the small ones solid; f20..f29 and big.bin batched
}

TEST(PackPlan, ModeNames) {
  EXPECT_EQ(parse_pack_mode("hybrid"), pack_mode::hybrid);
  EXPECT_FALSE(parse_pack_mode("Solid"));
  EXPECT_EQ(pack_mode_name(pack_mode::batched), "batched");
}
