#pragma once
// Where the build and source trees are, for the tests of what an operator
// installs: man pages, units, install rules, the Debian package.
#include <filesystem>
#include <string>

namespace sevenzfs::test {

inline std::filesystem::path source_dir() { return SEVENZFS_SOURCE_DIR; }
inline std::filesystem::path build_dir() { return SEVENZFS_BUILD_DIR; }
inline std::string ctl_binary() { return SEVENZFS_CTL_BINARY; }
inline std::string daemon_program() { return SEVENZFS_DAEMON_PROGRAM; }

}  // namespace sevenzfs::test
