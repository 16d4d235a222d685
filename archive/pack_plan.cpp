#include "pack_plan.hpp"

#include <algorithm>

namespace sevenzfs::archive {

namespace {

struct sort_key {
  std::string_view extension;
  std::string_view file_name;
  std::string_view directory;
};

sort_key key_of(std::string_view path) {
  const auto slash = path.rfind('/');
  const std::string_view directory = slash == std::string_view::npos ? std::string_view{} : path.substr(0, slash);
  const std::string_view file_name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const auto dot = file_name.rfind('.');
  const std::string_view extension =
      (dot == std::string_view::npos || dot == 0) ? std::string_view{} : file_name.substr(dot + 1);
  return {extension, file_name, directory};
}

// Directories compare with '/' below every other character, so that each
// subtree is contiguous: "a", "a/sub", then "a-x" (plain order puts "a-x"
// between the other two).
bool directory_less(std::string_view a, std::string_view b) {
  const auto rank = [](char c) { return c == '/' ? 0 : static_cast<unsigned char>(c) + 1; };
  return std::ranges::lexicographical_compare(a, b, [&](char x, char y) { return rank(x) < rank(y); });
}

void group_solid(std::span<const entry> entries, std::vector<std::size_t> indices, const plan_options& options,
                 std::vector<folder_plan>& folders) {
  std::vector<sort_key> keys(entries.size());
  for (auto i : indices) keys[i] = key_of(entries[i].path);
  std::ranges::stable_sort(indices, [&](std::size_t a, std::size_t b) {
    if (keys[a].extension != keys[b].extension) return keys[a].extension < keys[b].extension;
    if (keys[a].directory != keys[b].directory) return directory_less(keys[a].directory, keys[b].directory);
    return keys[a].file_name < keys[b].file_name;
  });
  folder_plan current;
  for (auto i : indices) {
    const auto size = entries[i].size;
    const bool bytes_full = options.solid_block_bytes != 0 && current.unpack_size + size > options.solid_block_bytes;
    const bool files_full = options.solid_block_files != 0 && current.entries.size() >= options.solid_block_files;
    if (!current.entries.empty() && (bytes_full || files_full)) {
      folders.push_back(std::move(current));
      current = {};
    }
    current.entries.push_back(i);
    current.unpack_size += size;
  }
  if (!current.entries.empty()) folders.push_back(std::move(current));
}

}  // namespace

std::vector<folder_plan> plan_folders(std::span<const entry> entries, const plan_options& options) {
  std::vector<std::size_t> solid;
  std::vector<folder_plan> folders;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    if (e.kind == entry_kind::directory || e.size == 0) continue;
    const bool batched =
        options.mode == pack_mode::batched || (options.mode == pack_mode::hybrid && e.size >= options.hybrid_threshold);
    if (batched) {
      folders.push_back({{i}, e.size});
    } else {
      solid.push_back(i);
    }
  }
  if (!solid.empty()) group_solid(entries, std::move(solid), options, folders);
  return folders;
}

std::string_view extension_of(std::string_view path) { return key_of(path).extension; }

std::vector<std::uint64_t> stream_indices(const std::vector<folder_plan>& plan, std::size_t entry_count,
                                          std::uint64_t first_stream) {
  std::vector<std::uint64_t> index(entry_count, UINT64_MAX);
  std::uint64_t next = first_stream;
  for (const auto& folder : plan) {
    for (auto i : folder.entries) index[i] = next++;
  }
  return index;
}

std::optional<pack_mode> parse_pack_mode(std::string_view text) {
  if (text == "batched") return pack_mode::batched;
  if (text == "solid") return pack_mode::solid;
  if (text == "hybrid") return pack_mode::hybrid;
  return std::nullopt;
}

std::string_view pack_mode_name(pack_mode mode) {
  switch (mode) {
    case pack_mode::batched: return "batched";
    case pack_mode::solid: return "solid";
    case pack_mode::hybrid: return "hybrid";
  }
  return "?";
}

}  // namespace sevenzfs::archive
