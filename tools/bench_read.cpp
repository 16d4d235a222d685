// Benchmark of reading archived content through cached_reader, against 7zz
// on the same archive in the same run (compare ratios: the machines are
// shared and noisy). For each archive:
//  - every file in directory (sorted path) order, each read whole in 128 KiB
//    reads as `cat` or `diff -r` through the mount would, against `7zz x`
//    of the archive into a temporary directory and against `7zz t`;
//  - its largest file read sequentially in 128 KiB reads, against
//    `7zz x -so ARCHIVE NAME > /dev/null`.
// Each measurement is the best of --runs runs. The reader's statistics show
// how often the data was decoded (decoded bytes / content bytes).
//
//   sevenzfs-bench-read [--runs N] [--cache SIZE] ARCHIVE...
#include "archive/archive_error.hpp"
#include "archive/cached_reader.hpp"
#include "archive/crc32.hpp"
#include "archive/size_argument.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace sevenzfs::tools {

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::size_t kReadSize = 128 * 1024;

struct settings {
  int runs = 2;
  std::uint64_t cache_bytes = archive::reader_options{}.cache_bytes;
  std::vector<std::string> archives;
};

std::string quote(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// Best wall time of `runs` runs of `work`, in seconds.
double best_of(int runs, const std::function<void()>& work) {
  double best = 1e300;
  for (int i = 0; i < runs; ++i) {
    const auto start = clock_type::now();
    work();
    best = std::min(best, std::chrono::duration<double>(clock_type::now() - start).count());
  }
  return best;
}

void shell(const std::string& command) {
  if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

// Reads `substream` whole in kReadSize reads; returns a CRC so the reads
// cannot be optimized away and a wrong result shows.
std::uint32_t read_file(archive::cached_reader& reader, const archive::archive_snapshot& snapshot,
                        std::uint64_t substream, std::vector<std::uint8_t>& buffer) {
  archive::crc32 crc;
  std::uint64_t offset = 0;
  while (const auto n = reader.read(snapshot, substream, offset, buffer)) {
    crc.update(std::span(buffer).first(n));
    offset += n;
  }
  return crc.value();
}

void bench_archive(const std::string& path, const settings& options, std::FILE* out) {
  const auto snapshot = archive::archive_snapshot::open(path);
  std::vector<std::uint64_t> order(snapshot->substream_count());
  for (std::uint64_t s = 0; s < order.size(); ++s) order[s] = s;
  std::ranges::sort(order, {}, [&](std::uint64_t s) { return snapshot->substream_name(s); });
  std::uint64_t content = 0;
  std::uint64_t largest = 0;
  for (const auto s : order) {
    content += snapshot->substream(s).size;
    if (snapshot->substream(s).size > snapshot->substream(largest).size) largest = s;
  }
  fmt::print(out, "{}: {} files, {} folders, {:.1f} MiB of content\n", path, order.size(), snapshot->folder_count(),
             static_cast<double>(content) / (1 << 20));
  if (order.empty()) return;
  for (const auto s : order) {
    if (const auto method = snapshot->unsupported_method(s)) {
      fmt::print(out, "  cannot read {}: method {} is not supported\n", snapshot->substream_name(s), *method);
      return;
    }
  }

  const auto scratch = std::filesystem::temp_directory_path() / fmt::format("sevenzfs-bench-read-{}", ::getpid());
  const double extract = best_of(options.runs, [&] {
    std::filesystem::remove_all(scratch);
    shell(fmt::format("7zz x -bd -y -o{} {} >/dev/null", quote(scratch.string()), quote(path)));
  });
  std::filesystem::remove_all(scratch);
  const double test = best_of(options.runs, [&] { shell(fmt::format("7zz t -bd {} >/dev/null", quote(path))); });
  std::vector<std::uint8_t> buffer(kReadSize);
  archive::reader_stats stats;
  const double all = best_of(options.runs, [&] {
    archive::cached_reader reader({.cache_bytes = options.cache_bytes, .block_size = 1 << 20, .decoders = {}});
    for (const auto s : order) read_file(reader, *snapshot, s, buffer);
    stats = reader.stats();
  });
  fmt::print(out, "  every file, directory order: {:.3f} s   7zz x {:.3f} s   7zz t {:.3f} s\n", all, extract, test);
  fmt::print(out, "    ratio vs 7zz x {:.2f} (target <= 3)   vs 7zz t {:.2f}\n", all / extract, all / test);
  fmt::print(out, "    decoded {:.2f} x the content; cache {:.1f} of {:.1f} MiB; hits {} misses {}; decoders made {}\n",
             static_cast<double>(stats.bytes_decoded) / static_cast<double>(std::max<std::uint64_t>(content, 1)),
             static_cast<double>(stats.cache_bytes) / (1 << 20), static_cast<double>(stats.cache_capacity) / (1 << 20),
             stats.hits, stats.misses, stats.decoders_created);

  const auto& name = snapshot->substream_name(largest);
  const double peer =
      best_of(options.runs, [&] { shell(fmt::format("7zz x -bd -so {} {} >/dev/null", quote(path), quote(name))); });
  const double sequential = best_of(options.runs, [&] {
    archive::cached_reader reader({.cache_bytes = options.cache_bytes, .block_size = 1 << 20, .decoders = {}});
    read_file(reader, *snapshot, largest, buffer);
    stats = reader.stats();
  });
  const double size = static_cast<double>(snapshot->substream(largest).size);
  fmt::print(out,
             "  largest file {} ({:.1f} MiB), sequential 128 KiB reads: {:.3f} s ({:.0f} MB/s)   7zz x -so {:.3f} s\n",
             name, size / (1 << 20), sequential, size / 1e6 / sequential, peer);
  fmt::print(out, "    ratio vs 7zz x -so {:.2f}; decoded {:.2f} x the file's folder prefix, decoders made {}\n",
             sequential / peer,
             static_cast<double>(stats.bytes_decoded) /
                 static_cast<double>(std::max<std::uint64_t>(
                     snapshot->substream(largest).offset + snapshot->substream(largest).size, 1)),
             stats.decoders_created);
}

}  // namespace

int bench_read_main(const std::vector<std::string>& args, std::FILE* out, std::FILE* err) {
  settings options;
  try {
    for (std::size_t i = 0; i < args.size(); ++i) {
      const auto& arg = args[i];
      if ((arg == "--runs" || arg == "--cache") && i + 1 == args.size())
        throw std::invalid_argument(arg + " needs a value");
      if (arg == "--runs") {
        options.runs = std::max(1, std::stoi(args[++i]));
      } else if (arg == "--cache") {
        const auto size = archive::parse_size(args[++i]);
        if (!size) throw std::invalid_argument("bad size " + args[i]);
        options.cache_bytes = *size;
      } else if (arg == "-h" || arg == "--help") {
        fmt::print(out, "usage: sevenzfs-bench-read [--runs N] [--cache SIZE] ARCHIVE...\n");
        return 0;
      } else if (arg.starts_with("-")) {
        throw std::invalid_argument("unknown option " + arg);
      } else {
        options.archives.push_back(arg);
      }
    }
    if (options.archives.empty()) throw std::invalid_argument("no archive given");
  } catch (const std::exception& error) {
    fmt::print(err, "sevenzfs-bench-read: {}\nusage: sevenzfs-bench-read [--runs N] [--cache SIZE] ARCHIVE...\n",
               error.what());
    return 2;
  }
  try {
    for (const auto& path : options.archives) bench_archive(path, options, out);
  } catch (const std::exception& error) {
    fmt::print(err, "sevenzfs-bench-read: {}\n", error.what());
    return 1;
  }
  return 0;
}

}  // namespace sevenzfs::tools

int main(int argc, char** argv) {
  return sevenzfs::tools::bench_read_main(std::vector<std::string>(argv + 1, argv + argc), stdout, stderr);
}
