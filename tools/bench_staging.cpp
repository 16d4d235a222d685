// Micro-benchmark of the staging layer: stages N files of a given average size
// (one write per file, as `cp` of a small file does through FUSE) into the
// staging store and, for comparison, into a naive std::vector<char> per file.
// Each scenario runs in its own child process so that peak RSS is its own.
// Prints time, heap allocations during staging, peak RSS and the memory
// overhead against the target (staged bytes x 1.15 + 64 bytes per file).
//
//   sevenzfs-bench-staging [FILES AVG_BYTES]...   (default: 50000 10240 1000000 100)
#include "pool/staging_store.hpp"

#include <fmt/format.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

namespace {

std::atomic<std::uint64_t> g_allocations{0};

}  // namespace

// Counting every heap allocation of this program.
void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using sevenzfs::pool::chunk_pool;
using sevenzfs::pool::kStagingChunkBytes;
using sevenzfs::pool::staged_file;
using sevenzfs::pool::staging_store;

struct workload {
  std::uint64_t files;
  std::uint64_t average;
  std::vector<std::uint32_t> sizes;
  std::uint64_t total = 0;
  std::string source;  // file contents are slices of this
};

workload make_workload(std::uint64_t files, std::uint64_t average) {
  workload w{files, average, {}, 0, {}};
  std::mt19937_64 rng(files * 31 + average);
  // Log-normal around the average (sigma 1), clamped like the bench corpus.
  std::lognormal_distribution<double> dist(std::log(static_cast<double>(average)) - 0.5, 1.0);
  const double lower = std::max(1.0, static_cast<double>(average) / 100.0);
  const double upper = static_cast<double>(average) * 20.0;
  w.sizes.reserve(files);
  for (std::uint64_t i = 0; i < files; ++i) {
    const auto size = static_cast<std::uint32_t>(std::clamp(dist(rng), lower, upper));
    w.sizes.push_back(size);
    w.total += size;
  }
  w.source.resize(static_cast<std::size_t>(upper) + 4096);
  for (auto& c : w.source) c = static_cast<char>('a' + rng() % 26);
  return w;
}

long peak_rss_kib() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

struct result {
  double seconds;
  std::uint64_t allocations;
  long baseline_kib;
  long peak_kib;
};

std::span<const std::byte> slice(const workload& w, std::size_t i) {
  return std::as_bytes(std::span(w.source.data() + (i * 7) % 4096, w.sizes[i]));
}

result stage_in_store(const workload& w) {
  chunk_pool pool(static_cast<std::size_t>(static_cast<double>(w.total) * 1.1) + 64 * kStagingChunkBytes,
                  kStagingChunkBytes);
  staging_store store(pool);
  std::vector<staged_file> files;
  files.reserve(w.files);  // the daemon's inode table holds these
  const long baseline = peak_rss_kib();
  const auto allocations_before = g_allocations.load();
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < w.files; ++i) {
    files.emplace_back(store);
    store.write(files.back(), 0, slice(w, i));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {seconds, g_allocations.load() - allocations_before, baseline, peak_rss_kib()};
}

result stage_in_vectors(const workload& w) {
  std::vector<std::vector<char>> files;
  files.reserve(w.files);
  const long baseline = peak_rss_kib();
  const auto allocations_before = g_allocations.load();
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < w.files; ++i) {
    auto& file = files.emplace_back();
    const auto data = slice(w, i);
    file.resize(data.size());  // a write handler growing the file to offset + size
    std::memcpy(file.data(), data.data(), data.size());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {seconds, g_allocations.load() - allocations_before, baseline, peak_rss_kib()};
}

void run_in_child(const char* name, const workload& w, result (*scenario)(const workload&)) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) std::exit(1);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    const result r = scenario(w);
    if (::write(pipe_fds[1], &r, sizeof r) != sizeof r) std::_Exit(1);
    std::_Exit(0);
  }
  ::close(pipe_fds[1]);
  result r{};
  const bool ok = ::read(pipe_fds[0], &r, sizeof r) == sizeof r;
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!ok) {
    fmt::print("{:<22} failed\n", name);
    return;
  }
  const double staged_mib = static_cast<double>(w.total) / 1048576.0;
  const double used_mib = static_cast<double>(r.peak_kib - r.baseline_kib) / 1024.0;
  const double target_mib = (static_cast<double>(w.total) * 1.15 + 64.0 * static_cast<double>(w.files)) / 1048576.0;
  const double overhead_per_file =
      (static_cast<double>(r.peak_kib - r.baseline_kib) * 1024.0 - static_cast<double>(w.total)) /
      static_cast<double>(w.files);
  fmt::print(
      "{:<22} {:8.3f} s {:10} allocs {:9.1f} MiB for {:8.1f} MiB staged {:7.1f} B/file over  target {:8.1f} MiB {}\n",
      name, r.seconds, r.allocations, used_mib, staged_mib, overhead_per_file, target_mib,
      used_mib <= target_mib ? "met" : "MISSED");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> cases;
  for (int i = 1; i + 1 < argc; i += 2) cases.emplace_back(std::stoull(argv[i]), std::stoull(argv[i + 1]));
  if (cases.empty()) cases = {{50000, 10240}, {1000000, 100}};
  fmt::print("sizeof(staged_file) = {} bytes; chunk = {} KiB\n", sizeof(staged_file), kStagingChunkBytes / 1024);
  for (const auto& [files, average] : cases) {
    const workload w = make_workload(files, average);
    fmt::print("\n{} files, average {} B requested, {} B staged in all\n", files, average, w.total);
    run_in_child("staging_store", w, stage_in_store);
    run_in_child("vector<char> per file", w, stage_in_vectors);
  }
  return 0;
}
