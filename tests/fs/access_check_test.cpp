// access(2)'s answers where the daemon gives them (default_permissions off).
#include "fs/access_check.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

namespace sevenzfs::fs {
namespace {

struct stat file(mode_t mode, uid_t uid = 1000, gid_t gid = 100) {
  struct stat st {};
  st.st_mode = mode;
  st.st_uid = uid;
  st.st_gid = gid;
  return st;
}

TEST(AccessCheck, RootReadsAndWritesAnythingButExecutesOnlyWhatHasAnXBit) {
  const caller root{0, 0, {}};
  EXPECT_TRUE(access_allowed(file(S_IFREG | 0000), R_OK | W_OK, root));
  EXPECT_FALSE(access_allowed(file(S_IFREG | 0644), X_OK, root));
  EXPECT_TRUE(access_allowed(file(S_IFREG | 0601), X_OK, root)) << "anyone's x bit will do";
  EXPECT_TRUE(access_allowed(file(S_IFDIR | 0000), X_OK, root)) << "directories are searchable by root";
  EXPECT_TRUE(access_allowed(file(S_IFREG | 0000), F_OK, root));
}

TEST(AccessCheck, OthersGetTheOwnersTheGroupsOrEveryonesBits) {
  const auto st = file(S_IFREG | 0741, 1000, 100);
  EXPECT_TRUE(access_allowed(st, R_OK | W_OK | X_OK, caller{1000, 5, {}}));
  EXPECT_TRUE(access_allowed(st, R_OK, caller{2000, 100, {}}));
  EXPECT_FALSE(access_allowed(st, W_OK, caller{2000, 100, {}}));
  EXPECT_FALSE(access_allowed(st, R_OK, caller{2000, 5, {}}));
  EXPECT_TRUE(access_allowed(st, X_OK, caller{2000, 5, {}}));
  EXPECT_FALSE(access_allowed(file(S_IFREG | 0077, 1000, 100), R_OK, caller{1000, 100, {}})) << "the owner's bits rule";
  EXPECT_TRUE(access_allowed(st, F_OK, caller{2000, 5, {}}));
}

}  // namespace
}  // namespace sevenzfs::fs
