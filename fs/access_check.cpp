#include "access_check.hpp"

#include <unistd.h>

namespace sevenzfs::fs {

bool access_allowed(const struct stat& st, int mask, const caller& who) {
  const int wanted = mask & (R_OK | W_OK | X_OK);
  if (wanted == 0) return true;
  if (who.uid == 0) return (wanted & X_OK) == 0 || S_ISDIR(st.st_mode) || (st.st_mode & 0111) != 0;
  const mode_t bits = who.uid == st.st_uid   ? (st.st_mode >> 6) & 7
                      : who.gid == st.st_gid ? (st.st_mode >> 3) & 7
                                             : st.st_mode & 7;
  return (static_cast<int>(bits) & wanted) == wanted;
}

}  // namespace sevenzfs::fs
