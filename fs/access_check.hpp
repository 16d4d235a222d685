#pragma once
// access(2) as the kernel's generic permission check answers it. Only
// asked when default_permissions is off (run by root, without allow_other
// or allow_root: only root can enter); the kernel then takes an
// unanswered ACCESS as "allowed", and `test -x` said yes to every file.
#include "inode.hpp"

#include <sys/stat.h>

namespace sevenzfs::fs {

// Whether `who` may access a file with attributes `st` as `mask` (R_OK,
// W_OK, X_OK; F_OK: 0) asks. Root may read and write anything, and execute
// what has an execute bit for anyone (or is a directory). Others get the
// owner's, the group's or everyone's bits; supplementary groups are not
// known here.
bool access_allowed(const struct stat& st, int mask, const caller& who);

}  // namespace sevenzfs::fs
