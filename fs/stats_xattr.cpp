#include "stats_xattr.hpp"

#include "sevenzfs/version.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>

namespace sevenzfs::fs {

namespace {

constexpr std::string_view kPrefix = "user.sevenzfs.";
constexpr std::string_view kFlushName = "user.sevenzfs.flush";
constexpr std::string_view kUnmountName = "user.sevenzfs.unmount";
constexpr std::string_view kCompactName = "user.sevenzfs.compact";
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
  const bool control = number == kRootInode && (name == kFlushName || name == kUnmountName || name == kCompactName);
  if (!control) {
    if (number == kRootInode && names_root_statistic(name)) return {};
    return failure(ENOTSUP);  // 7z has nowhere to keep extended attributes
  }
  // Any user of an allow_other mount could otherwise make it commit in a loop.
  if (who.uid != 0 && who.uid != sources_.owner) {
    return failure(EPERM, fmt::format("{} is for the mount's owner or root, not uid {}", name, who.uid));
  }
  // Any value asks.
  if (name == kFlushName) return hooks_.flush();
  if (name == kCompactName) return hooks_.compact();
  return hooks_.unmount();
}

std::string file_state_json(const inode& node, const archive::archive_snapshot* archived) {
  if (node.is_directory()) return R"({"state":"directory"})";
  const std::uint64_t size = node.size();
  // Committed by an fsync while the compressor has it too: archived (a
  // later commit takes the compressor's copy instead).
  const bool archived_beside = node.content.archived_as_sealed();
  if (const sealed_bytes* sealed = node.content.sealed(); sealed != nullptr && !archived_beside) {
    // Handed to the compressor: being compressed, or waiting in a pending file for a commit.
    return fmt::format(R"({{"state":"{}","size":{}}})", sealed->released() ? "compressed" : "compressing", size);
  }
  const auto stream = node.content.stream_in(archived);
  if ((node.content.dirty() && !archived_beside) || !stream) {
    return fmt::format(R"({{"state":"{}","size":{}}})", node.content.dirty() ? "staged" : "empty", size);
  }
  const std::size_t folder = archived->substream(*stream).folder;
  std::uint64_t packed = 0;
  for (const auto& pack : archived->folder(folder).packs) packed += pack.size;
  return fmt::format(R"({{"state":"archived","size":{},"folder":{},"folder_packed_bytes":{}}})", size, folder, packed);
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

result<void> stats_xattr::remove(inode_number number, std::string_view name) {
  if (!name.starts_with(kPrefix)) return failure(ENODATA);
  if (number == kRootInode) {
    if (!names_root_statistic(name)) return failure(ENODATA);
    return {};
  }
  if (name != kStateName) return failure(ENODATA);
  auto state = hooks_.file_state(number);
  if (!state) return std::unexpected(state.error());
  if (!*state) return failure(ENODATA);
  return {};
}

bool stats_xattr::names_root_statistic(std::string_view name) const {
  if (!name.starts_with(kPrefix)) return false;
  if (name == kDocumentName) return true;
  const auto all = values();
  return std::ranges::any_of(all, [&](const stat_value& v) { return v.name == name.substr(kPrefix.size()); });
}

result<std::string> stats_xattr::list(inode_number number) {
  std::string names;
  if (number == kRootInode) {
    // Not the JSON document: getfattr -d shows every listed value.
    for (const auto& v : values()) names += fmt::format("{}{}", kPrefix, v.name) + '\0';
    return names;
  }
  // A file's state is read by name only: listed, cp -a and rsync -X would
  // copy it out as a stale attribute of every file.
  return names;
}

std::vector<stat_value> stats_xattr::values() const {
  const auto pool = sources_.pool.stats();
  const auto cache = sources_.reader.stats();
  const auto tree = hooks_.tree();
  const auto& commits = sources_.commits;
  const auto seconds_text = [](double value) { return fmt::format("{:.3f}", value); };
  const auto count = [](std::uint64_t value) { return number_text(value); };
  const double duration = static_cast<double>(commits.last_duration_us.load()) / 1e6;
  const double per_second = 1.0 / (duration > 0 ? duration : 1e-9);
  const auto last_bytes = commits.last_bytes.load();
  const auto last_files = commits.last_files.load();
  const bool running = commits.running.load();
  const auto progress = progress_of(commits, sources_.streamed.figures());
  const auto pending = progress.pending_bytes;
  const auto done = progress.done_bytes;
  const double percent = progress.percent;
  const auto packed = commits.packed_bytes.load();
  const auto unpacked = commits.archived_bytes.load();
  const auto uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - sources_.started).count();
  const auto& write = sources_.options.write;
  std::vector<stat_value> v;
  v.push_back({"version", std::string(kVersion), false});
  v.push_back({"archive", sources_.options.archive_path, false});
  v.push_back({"pid", count(static_cast<std::uint64_t>(::getpid()))});
  v.push_back({"uptime_seconds", seconds_text(uptime)});
  v.push_back({"mode", std::string(archive::pack_mode_name(write.plan.mode)), false});
  v.push_back({"level", count(static_cast<std::uint64_t>(write.compression.level))});
  v.push_back({"files", count(tree.files)});
  v.push_back({"directories", count(tree.directories)});
  v.push_back({"files_under_16k", count(tree.files_under_16k)});
  v.push_back({"files_under_1m", count(tree.files_under_1m)});
  v.push_back({"files_1m_or_more", count(tree.files_1m_or_more)});
  v.push_back({"staged_files", count(tree.staged_files)});
  v.push_back({"staged_bytes", count(tree.staged_bytes)});
  v.push_back({"archived_files", count(commits.archived_files.load())});
  v.push_back({"archived_bytes", count(unpacked)});
  v.push_back({"archive_bytes", count(commits.archive_bytes.load())});
  v.push_back({"packed_bytes", count(packed)});
  v.push_back({"dead_bytes", count(commits.dead_bytes.load())});
  v.push_back({"packed_to_unpacked_ratio",
               unpacked ? fmt::format("{:.4f}", static_cast<double>(packed) / static_cast<double>(unpacked)) : "0"});
  v.push_back({"pool_bytes", count(pool.chunks_total * pool.chunk_bytes)});
  v.push_back({"pool_free_bytes", count(pool.chunks_free * pool.chunk_bytes)});
  v.push_back({"pool_high_water_bytes", count(pool.chunks_high_water * pool.chunk_bytes)});
  v.push_back({"pool_waits_total", count(pool.waits)});
  v.push_back({"pool_wait_seconds_total", seconds_text(static_cast<double>(pool.wait_nanoseconds) / 1e9)});
  v.push_back({"cache_bytes", count(cache.cache_bytes)});
  v.push_back({"cache_hits_total", count(cache.hits)});
  v.push_back({"cache_misses_total", count(cache.misses)});
  v.push_back({"commits_total", count(commits.commits.load())});
  v.push_back({"failed_commits_total", count(commits.failed_commits.load())});
  v.push_back({"committing", running ? "1" : "0"});
  v.push_back({"commit_pending_bytes", count(pending)});
  v.push_back({"commit_done_bytes", count(done)});
  v.push_back({"commit_progress_percent", fmt::format("{:.1f}", percent)});
  v.push_back({"last_commit_unix_seconds", count(static_cast<std::uint64_t>(commits.last_time.load()))});
  v.push_back({"last_commit_duration_seconds", seconds_text(duration)});
  v.push_back({"last_commit_files", count(last_files)});
  v.push_back({"last_commit_bytes", count(last_bytes)});
  v.push_back({"last_commit_continued_bytes", count(commits.last_continued_bytes.load())});
  v.push_back({"last_commit_bytes_per_second", fmt::format("{:.0f}", static_cast<double>(last_bytes) * per_second)});
  v.push_back({"last_commit_files_per_second", fmt::format("{:.1f}", static_cast<double>(last_files) * per_second)});
  v.push_back({"last_error", commits.error(), false});
  v.push_back({"last_error_unix_seconds", count(static_cast<std::uint64_t>(commits.last_error_time.load()))});
  return v;
}

}  // namespace sevenzfs::fs
