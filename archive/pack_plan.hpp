#pragma once
// Which entries go into which folder. Batched: a folder per file (random
// access). Solid: files grouped into folders of at most `solid_block_bytes`
// and `solid_block_files`, ordered by extension, then directory, then name,
// so that similar files share a dictionary. 7-Zip orders by path; with
// -mqs=on, by extension, then name. Grouping by extension helps where each
// directory mixes kinds of file (the benchmark's blob cache: 7.7 % smaller
// than by path); keeping a directory's files together helps source trees
// (/usr/include: 4.5 % smaller than by extension, then name).
// Hybrid: files under `hybrid_threshold` go solid, larger ones batched.
// Entries without content (directories, empty files) get no folder.
#include "entry.hpp"

#include <cstdint>
#include <span>
#include <optional>
#include <string_view>
#include <vector>

namespace sevenzfs::archive {

enum class pack_mode { batched, solid, hybrid };

struct plan_options {
  pack_mode mode = pack_mode::solid;
  std::uint64_t solid_block_bytes = 0;  // 0: no byte limit
  std::uint64_t solid_block_files = 0;  // 0: no file-count limit
  std::uint64_t hybrid_threshold = 1 << 20;
};

struct folder_plan {
  std::vector<std::size_t> entries;  // indices into the entry list, in stream order
  std::uint64_t unpack_size = 0;
};

std::vector<folder_plan> plan_folders(std::span<const entry> entries, const plan_options& options);

// For each of the `entry_count` planned entries, the global substream index
// it gets when the plan's folders follow `first_stream` existing streams
// (UINT64_MAX for entries the plan leaves out).
std::vector<std::uint64_t> stream_indices(const std::vector<folder_plan>& plan, std::size_t entry_count,
                                          std::uint64_t first_stream);

// The extension solid folders are grouped by: what follows the last '.' of
// the file name, unless the name starts with it; empty when there is none.
std::string_view extension_of(std::string_view path);

// "batched" / "solid" / "hybrid", or nullopt.
std::optional<pack_mode> parse_pack_mode(std::string_view text);
std::string_view pack_mode_name(pack_mode mode);

}  // namespace sevenzfs::archive
