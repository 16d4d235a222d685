#pragma once
// The statistics document of a mount (user.sevenzfs.stats): one flat JSON
// object of numbers and strings, kept in the daemon's order with each number
// as the daemon wrote it (locale-free, so it is passed on unchanged).
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sevenzfs::tools {

struct stat_entry {
  std::string key;
  std::string text;  // a number's JSON text, or a string's decoded UTF-8 value
  bool is_string = false;
};

using stat_list = std::vector<stat_entry>;

// Parses a flat JSON object; nested objects and arrays are an error, true and
// false become 1 and 0, null values are left out. The error is one sentence.
std::expected<stat_list, std::string> parse_stats_json(std::string_view json);

// A number entry's value; nothing for a string or a number double cannot hold.
std::optional<double> number_value(const stat_entry& entry);

const stat_entry* find_stat(const stat_list& stats, std::string_view key);
std::optional<double> number_stat(const stat_list& stats, std::string_view key);
std::optional<std::uint64_t> count_stat(const stat_list& stats, std::string_view key);
std::string string_stat(const stat_list& stats, std::string_view key);

}  // namespace sevenzfs::tools
