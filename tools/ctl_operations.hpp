#pragma once
// The commands of sevenzfs-ctl, after the command line is parsed
// (ctl_command.cpp). Each prints its result and returns an exit code.
#include "ctl_command.hpp"

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace sevenzfs::tools {

enum class stats_format { human, json, prometheus };

struct ctl_output {
  std::FILE* out;
  std::FILE* err;
  bool terminal;
  unsigned width;
};

int run_flush(const ctl_environment& environment, const ctl_output& io, const std::string& path);
int run_stats(const ctl_environment& environment, const ctl_output& io, const std::vector<std::string>& paths,
              stats_format format);
int run_watch(const ctl_environment& environment, const ctl_output& io, const std::string& path,
              double interval_seconds, std::optional<std::uint64_t> count);
int run_unmount(const ctl_environment& environment, const ctl_output& io, const std::string& path,
                double timeout_seconds);
int run_compact(const ctl_environment& environment, const ctl_output& io, const std::string& path);

}  // namespace sevenzfs::tools
