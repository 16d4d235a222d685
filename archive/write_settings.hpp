#pragma once
// The compression options both programs take on their command lines — the
// daemon as `-o key=value`, sevenzfs-pack as `--key value` — parsed in one
// place, with one set of limits and defaults: mode, level, solid_block,
// solid_files, hybrid_threshold, threads.
#include "archive_writer.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sevenzfs::archive {

// The number of cores: the default thread count of both programs (as 7zz).
unsigned default_threads();

class write_settings {
 public:
  write_settings();

  // Applies option `key` (as "solid_block"; "solid-block" is the same) with
  // `value`. nullopt: not a write option. Otherwise "" or the error message.
  std::optional<std::string> set(std::string_view key, std::string_view value);

  // The options, with the defaults that depend on others filled in (the
  // solid block follows the level unless it was given).
  write_options finish() const;

 private:
  write_options options_;
  std::optional<std::uint64_t> solid_block_;
};

}  // namespace sevenzfs::archive
