#include "write_settings.hpp"

#include "lzma_settings.hpp"
#include "size_argument.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <thread>

namespace sevenzfs::archive {

namespace {

constexpr std::uint64_t kMaxThreads = 256;

std::optional<std::uint64_t> number(std::string_view text, std::uint64_t minimum, std::uint64_t maximum) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < minimum || value > maximum) return std::nullopt;
  return value;
}

std::optional<std::uint64_t> size(std::string_view text) {
  const auto bytes = parse_size(text);
  if (!bytes || *bytes == 0) return std::nullopt;
  return bytes;
}

}  // namespace

unsigned default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

write_settings::write_settings() { options_.compression.threads = default_threads(); }

std::optional<std::string> write_settings::set(std::string_view raw_key, std::string_view value) {
  std::string key(raw_key);
  std::replace(key.begin(), key.end(), '-', '_');
  auto& plan = options_.plan;
  auto& compression = options_.compression;
  const auto bad = [&](std::string_view expected) {
    return fmt::format("{} expects {}, got '{}'", raw_key, expected, value);
  };
  if (key == "mode") {
    const auto mode = parse_pack_mode(value);
    if (!mode) return bad("batched, solid or hybrid");
    plan.mode = *mode;
  } else if (key == "level") {
    const auto n = number(value, 0, kMaxLevel);
    if (!n) return bad(fmt::format("a level from 0 to {}", kMaxLevel));
    compression.level = static_cast<int>(*n);
  } else if (key == "solid_block") {
    const auto n = size(value);
    if (!n) return bad("a size such as 64M");
    solid_block_ = *n;
  } else if (key == "solid_files") {
    const auto n = number(value, 1, UINT32_MAX);
    if (!n) return bad("a positive number of files");
    plan.solid_block_files = *n;
  } else if (key == "hybrid_threshold") {
    const auto n = size(value);
    if (!n) return bad("a size such as 1M");
    plan.hybrid_threshold = *n;
  } else if (key == "threads") {
    const auto n = number(value, 1, kMaxThreads);
    if (!n) return bad(fmt::format("a number from 1 to {}", kMaxThreads));
    compression.threads = static_cast<unsigned>(*n);
  } else {
    return std::nullopt;
  }
  return std::string();
}

write_options write_settings::finish() const {
  write_options options = options_;
  options.plan.solid_block_bytes = solid_block_.value_or(default_solid_block_bytes(options.compression.level));
  return options;
}

}  // namespace sevenzfs::archive
