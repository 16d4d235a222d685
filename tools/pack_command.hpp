#pragma once
// sevenzfs-pack: packs files and directories into a 7z archive with the
// engine the daemon uses. The whole program, callable in-process for tests.
#include <cstdio>
#include <string>
#include <vector>

namespace sevenzfs::tools {

// Exit codes.
inline constexpr int kPackOk = 0;
inline constexpr int kPackFailed = 1;  // input or archive error; no archive written
inline constexpr int kPackUsage = 2;   // bad command line

int pack_main(const std::vector<std::string>& args, std::FILE* out, std::FILE* err);

}  // namespace sevenzfs::tools
