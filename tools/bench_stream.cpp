// Benchmark of the streaming pipeline without a mount: the files of PATH...
// are handed to archive::pending_folders one by one in walk order (as `cp
// -r` into the mount would seal them), then one commit copies the finished
// folders into a new archive (commit_request::prepacked_folders). Prints the
// hand-over phase (compression while files arrive), the wait for the last
// folders, the commit (which compresses nothing), the archive size, and the
// bounds pending_folders kept (input in flight, primers and packed bytes
// held). File contents are read from disk by the workers, so the process's
// peak RSS is the pipeline's own memory (encoders and buffers) — in the
// daemon the staged bytes come on top, within the pool.
//
//   sevenzfs-bench-stream [--mode M] [--level N] [--threads N] [--max-input SIZE] [--part SIZE]
//                         [--open-folders N] OUT.7z PATH...
#include "archive/archive_appender.hpp"
#include "archive/archive_error.hpp"
#include "archive/pending_folders.hpp"
#include "archive/size_argument.hpp"
#include "archive/write_settings.hpp"
#include "tools/disk_tree.hpp"

#include <fmt/format.h>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace sevenzfs::tools {

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

std::uint64_t peak_rss_bytes() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;
}

int usage_error(const std::string& message) {
  fmt::print(stderr, "sevenzfs-bench-stream: {}\n", message);
  return 2;
}

int run(int argc, char** argv) {
  archive::write_settings settings;
  archive::pending_options options;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (!arg.starts_with("--")) {
      positional.push_back(arg);
      continue;
    }
    if (i + 1 >= argc) return usage_error(arg + " needs a value");
    const std::string value = argv[++i];
    if (arg == "--max-input" || arg == "--part") {
      const auto bytes = archive::parse_size(value);
      if (!bytes) return usage_error("bad size " + value);
      (arg == "--part" ? options.max_part_bytes : options.max_input_bytes) = *bytes;
    } else if (arg == "--open-folders") {
      options.max_open_folders = std::stoul(value);
    } else if (const auto error = settings.set(arg.substr(2), value); !error || !error->empty()) {
      return usage_error(error ? *error : "unknown option " + arg);
    }
  }
  if (positional.size() < 2) return usage_error("usage: sevenzfs-bench-stream [options] OUT.7z PATH...");
  const archive::write_options write = settings.finish();
  options.plan = write.plan;
  options.level = write.compression.level;
  options.threads = write.compression.threads;

  const std::string out = positional.front();
  const auto entries = collect_entries({positional.begin() + 1, positional.end()});
  std::map<archive::pending_id, const archive::entry*> by_id;
  archive::commit_request request;
  std::uint64_t input = 0;
  std::uint64_t files = 0;
  const auto started = clock_type::now();
  archive::pending_folders pending(out, options);
  for (const auto& e : entries) {
    if (e.kind == archive::entry_kind::directory || e.size == 0) {
      request.entries_without_data.push_back(e);
      continue;
    }
    by_id[pending.add(e)] = &e;
    input += e.size;
    ++files;
  }
  const double handed = seconds_since(started);
  pending.finish();
  const double finished = seconds_since(started);
  const auto folders = pending.take();
  for (const auto& folder : folders) {
    std::vector<std::optional<archive::entry>> shown;
    for (auto id : folder.ids) shown.push_back(*by_id.at(id));
    request.prepacked_folders.push_back(archive::prepacked(folder, std::move(shown)));
  }
  const auto commit_started = clock_type::now();
  archive::archive_appender appender(out, write);
  appender.commit(std::move(request));
  const double committed = seconds_since(commit_started);
  const double total = seconds_since(started);

  const double mb = static_cast<double>(input) / 1e6;
  fmt::print("{} files, {} bytes, mode {}, level {}, {} threads, parts of {} B, input bound {} B\n", files, input,
             archive::pack_mode_name(options.plan.mode), options.level, options.threads, pending.part_bytes(),
             pending.max_input_bytes());
  fmt::print("hand-over (compressing as files arrive) {:8.2f} s  {:7.1f} MB/s  {:8.0f} files/s\n", handed, mb / handed,
             static_cast<double>(files) / handed);
  fmt::print("until every folder is written           {:8.2f} s  {:7.1f} MB/s\n", finished, mb / finished);
  fmt::print("commit (copy + header)                  {:8.3f} s  for {} folders\n", committed, folders.size());
  fmt::print("total                                   {:8.2f} s  {:7.1f} MB/s\n", total, mb / total);
  fmt::print(
      "archive {} B ({:.2f} % of the input); peak input in flight {} B, peak primers + packed {} B, "
      "peak RSS {} MiB\n",
      appender.archive_bytes(), 100.0 * static_cast<double>(appender.archive_bytes()) / mb / 1e6,
      pending.peak_input_bytes(), pending.peak_buffer_bytes(), peak_rss_bytes() >> 20);
  return 0;
}

}  // namespace

}  // namespace sevenzfs::tools

int main(int argc, char** argv) {
  try {
    return sevenzfs::tools::run(argc, argv);
  } catch (const sevenzfs::archive::archive_error& e) {
    fmt::print(stderr, "sevenzfs-bench-stream: {}: {}\n", e.path(), e.what());
    return 1;
  }
}
