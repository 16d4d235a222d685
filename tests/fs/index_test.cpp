// The two per-file indexes that replaced node-based maps: a directory's
// entries in readdir order (cookie_list) and the files of the folders a
// commit took (taken_folders). What they must keep: readdir cookies across
// removals and compaction, and every file's folder, position and flat index
// across takes whose ids interleave.
#include "fs/cookie_list.hpp"
#include "fs/taken_folders.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

namespace fs = sevenzfs::fs;
namespace archive = sevenzfs::archive;

namespace {

using listing = std::vector<std::pair<std::uint64_t, std::uint64_t>>;  // (cookie, inode)

listing after(const fs::cookie_list& list, std::uint64_t cookie, std::size_t at_most = SIZE_MAX) {
  listing out;
  list.visit_after(cookie, [&](std::uint64_t c, std::uint64_t number) {
    out.emplace_back(c, number);
    return out.size() < at_most;
  });
  return out;
}

archive::finished_folder folder_of(std::vector<archive::pending_id> ids) {
  archive::finished_folder folder;
  folder.ids.assign(ids.begin(), ids.end());
  return folder;
}

}  // namespace

TEST(CookieList, ListsWhatIsLeftInOrderWithTheCookiesItWasAddedWith) {
  fs::cookie_list list;
  for (std::uint64_t k = 1; k <= 10; ++k) list.add(k, 100 + k);
  list.remove(3);
  list.remove(3);   // again: nothing more happens
  list.remove(42);  // never added
  EXPECT_EQ(after(list, 0, 3), (listing{{1, 101}, {2, 102}, {4, 104}}));
  // A readdir that stopped at cookie 2 goes on at 4, and one that stopped at
  // the removed 3 as well.
  EXPECT_EQ(after(list, 2, 1), (listing{{4, 104}}));
  EXPECT_EQ(after(list, 3, 1), (listing{{4, 104}}));
  EXPECT_TRUE(after(list, 10).empty());
}

TEST(CookieList, CompactionKeepsCookiesAndOffsets) {
  fs::cookie_list list;
  constexpr std::uint64_t kCount = 1000;
  for (std::uint64_t k = 1; k <= kCount; ++k) list.add(k, k + 1);
  // Remove all but every tenth: holes pass half the list many times over.
  listing expected;
  for (std::uint64_t k = 1; k <= kCount; ++k) {
    if (k % 10 == 0) {
      expected.emplace_back(k, k + 1);
    } else {
      list.remove(k);
    }
  }
  EXPECT_EQ(after(list, 0), expected);
  EXPECT_EQ(after(list, 505, 2), (listing{{510, 511}, {520, 521}}));
  // Adding goes on after the highest cookie ever given.
  list.add(kCount + 1, 7);
  EXPECT_EQ(after(list, kCount - 1), (listing{{kCount, kCount + 1}, {kCount + 1, 7}}));
  for (const auto& [cookie, number] : after(list, 0)) list.remove(cookie);
  EXPECT_TRUE(after(list, 0).empty());
}

TEST(TakenFolders, FindsEveryFileAcrossTakesWithInterleavedIds) {
  fs::taken_folders taken;
  // Two lanes' folders: ids interleave, as solid lanes by extension do.
  std::vector<archive::finished_folder> first;
  first.push_back(folder_of({2, 5, 9}));
  first.push_back(folder_of({1, 3}));
  first.push_back(folder_of({}));  // no file: takes no flat index
  taken.append(std::move(first));
  // A failed commit's folders stay; the next take comes after them.
  std::vector<archive::finished_folder> second;
  second.push_back(folder_of({4}));
  second.push_back(folder_of({8, 6, 7}));
  taken.append(std::move(second));

  ASSERT_EQ(taken.folders().size(), 5u);
  const std::vector<std::tuple<archive::pending_id, std::size_t, std::size_t, std::size_t>> expected{
      {2, 0, 0, 0}, {5, 0, 1, 1}, {9, 0, 2, 2}, {1, 1, 0, 3}, {3, 1, 1, 4},
      {4, 3, 0, 5}, {8, 4, 0, 6}, {6, 4, 1, 7}, {7, 4, 2, 8}};
  for (const auto& [id, folder, index, flat] : expected) {
    SCOPED_TRACE(id);
    const auto place = taken.find(id);
    ASSERT_TRUE(place.has_value());
    EXPECT_EQ(place->folder, folder);
    EXPECT_EQ(place->index, index);
    EXPECT_EQ(place->flat, flat);
    EXPECT_EQ(taken.folders()[folder].ids[index], id);
  }
  EXPECT_FALSE(taken.find(10).has_value());
  EXPECT_FALSE(taken.find(0).has_value());

  taken.clear();
  EXPECT_TRUE(taken.folders().empty());
  EXPECT_EQ(taken.capacity(), 0u) << "a commit of a million files must not leave their storage behind";
  EXPECT_FALSE(taken.find(2).has_value());
}
