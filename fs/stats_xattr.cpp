#include "stats_xattr.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>

namespace sevenzfs::fs {

namespace {

constexpr std::string_view kPrefix = "user.sevenzfs.";
constexpr std::string_view kFlushName = "user.sevenzfs.flush";
constexpr std::string_view kStateName = "user.sevenzfs.state";
constexpr std::string_view kDocumentName = "user.sevenzfs.stats";
constexpr auto kProbeValidity = std::chrono::seconds(5);

std::string number_text(std::uint64_t value) { return fmt::format("{}", value); }

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        else
          out += c;
    }
  }
  return out + "\"";
}

}  // namespace

std::string stats_json(const std::vector<stat_value>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ",";
    out += json_string(values[i].name) + ":" + (values[i].is_number ? values[i].text : json_string(values[i].text));
  }
  return out + "}\n";
}

stats_xattr::stats_xattr(stats_sources sources, hooks actions) : sources_(sources), hooks_(std::move(actions)) {}

result<void> stats_xattr::set(inode_number number, std::string_view name, std::string_view, const caller& who) {
  if (number == kRootInode && name == kFlushName) return hooks_.flush(who);  // any value asks for a commit
  return failure(ENOTSUP);  // 7z has nowhere to keep extended attributes
}

result<std::string> stats_xattr::get(inode_number number, std::string_view name, bool size_probe) {
  if (!name.starts_with(kPrefix)) return failure(ENODATA);
  if (number == kRootInode) return root_value(name, size_probe);
  if (name != kStateName) return failure(ENODATA);
  auto state = hooks_.file_state(number);
  if (!state) return std::unexpected(state.error());
  if (!*state) return failure(ENODATA);
  return std::move(**state);
}

result<std::string> stats_xattr::root_value(std::string_view name, bool size_probe) {
  const std::string key(name);
  if (!size_probe) {
    std::lock_guard lock(probed_mutex_);
    const auto it = probed_.find(key);
    if (it != probed_.end()) {
      auto probed = std::move(it->second);
      probed_.erase(it);
      if (std::chrono::steady_clock::now() - probed.when < kProbeValidity) return std::move(probed.value);
    }
  }
  const auto all = values();
  std::optional<std::string> found;
  if (name == kDocumentName) found = stats_json(all);
  for (const auto& v : all) {
    if (!found && v.name == name.substr(kPrefix.size())) found = v.text;
  }
  if (!found) return failure(ENODATA);
  if (size_probe) {
    std::lock_guard lock(probed_mutex_);
    probed_[key] = {*found, std::chrono::steady_clock::now()};
  }
  return *found;
}

result<std::string> stats_xattr::list(inode_number number) {
  std::string names;
  if (number == kRootInode) {
    for (const auto& v : values()) names += fmt::format("{}{}", kPrefix, v.name) + '\0';
    names += std::string(kDocumentName) + '\0';
    return names;
  }
  auto state = hooks_.file_state(number);
  if (!state) return std::unexpected(state.error());
  if (*state) names += std::string(kStateName) + '\0';
  return names;
}

std::vector<stat_value> stats_xattr::values() const {
  const auto store = sources_.store.stats();
  const auto pool = sources_.pool.stats();
  const auto& commits = sources_.commits;
  const double duration = static_cast<double>(commits.last_duration_us.load()) / 1e6;
  const double seconds = duration > 0 ? duration : 1e-9;
  const auto last_bytes = commits.last_bytes.load();
  const auto last_files = commits.last_files.load();
  const auto pending = commits.pending_bytes.load();
  const auto done = std::min(commits.done_bytes.load(), pending);
  const auto packed = commits.packed_bytes.load();
  const auto unpacked = commits.archived_bytes.load();
  const auto ratio = [](double part, double whole) { return fmt::format("{:.4f}", part / whole); };
  std::vector<stat_value> v;
  v.push_back({"files_staged", number_text(store.files)});
  v.push_back({"bytes_staged", number_text(store.bytes)});
  v.push_back({"files_archived", number_text(commits.archived_files.load())});
  v.push_back({"bytes_archived", number_text(unpacked)});
  v.push_back({"archive_bytes", number_text(commits.archive_bytes.load())});
  v.push_back({"compression_ratio",
               unpacked ? ratio(static_cast<double>(packed), static_cast<double>(unpacked)) : std::string("0")});
  v.push_back({"small_files", number_text(store.small_files)});
  v.push_back({"medium_files", number_text(store.medium_files)});
  v.push_back({"large_files", number_text(store.large_files)});
  v.push_back({"pool_chunk_bytes", number_text(pool.chunk_bytes)});
  v.push_back({"pool_chunks_total", number_text(pool.chunks_total)});
  v.push_back({"pool_chunks_free", number_text(pool.chunks_free)});
  v.push_back({"pool_chunks_high_water", number_text(pool.chunks_high_water)});
  v.push_back({"pool_waits", number_text(pool.waits)});
  v.push_back({"pool_wait_seconds", fmt::format("{:.3f}", static_cast<double>(pool.wait_nanoseconds) / 1e9)});
  v.push_back({"commits", number_text(commits.commits.load())});
  v.push_back({"committing", commits.running.load() ? "1" : "0"});
  v.push_back({"commit_bytes_pending", number_text(pending)});
  v.push_back({"commit_bytes_done", number_text(done)});
  v.push_back({"commit_progress_percent",
               pending ? fmt::format("{:.1f}", 100.0 * static_cast<double>(done) / static_cast<double>(pending))
                       : std::string("100.0")});
  v.push_back({"last_commit_time", number_text(static_cast<std::uint64_t>(commits.last_time.load()))});
  v.push_back({"last_commit_seconds", fmt::format("{:.3f}", duration)});
  v.push_back({"last_commit_files", number_text(last_files)});
  v.push_back({"last_commit_bytes", number_text(last_bytes)});
  v.push_back({"last_commit_mb_per_s", fmt::format("{:.2f}", static_cast<double>(last_bytes) / 1e6 / seconds)});
  v.push_back({"last_commit_files_per_s", fmt::format("{:.1f}", static_cast<double>(last_files) / seconds)});
  v.push_back({"last_error", commits.error(), false});
  v.push_back({"pid", number_text(static_cast<std::uint64_t>(::getpid()))});
  v.push_back({"mode", std::string(archive::pack_mode_name(sources_.options.write.plan.mode)), false});
  v.push_back({"level", number_text(static_cast<std::uint64_t>(sources_.options.write.compression.level))});
  return v;
}

}  // namespace sevenzfs::fs
