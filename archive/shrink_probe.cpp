#include "shrink_probe.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <numbers>
#include <vector>

namespace sevenzfs::archive {

namespace {

constexpr std::uint8_t kUncompressedResetDictionary = 0x01;
constexpr std::uint8_t kUncompressedKeepDictionary = 0x02;

}  // namespace

void write_uncompressed_chunks(std::span<const std::uint8_t> input, const span_sink& output,
                               bool first_resets_dictionary) {
  bool reset = first_resets_dictionary;
  while (!input.empty()) {
    const std::size_t size = std::min(input.size(), kUncompressedChunkMax);
    const std::array<std::uint8_t, 3> header{reset ? kUncompressedResetDictionary : kUncompressedKeepDictionary,
                                             static_cast<std::uint8_t>((size - 1) >> 8),
                                             static_cast<std::uint8_t>((size - 1) & 0xff)};
    reset = false;
    output(header);
    output(input.first(size));
    input = input.subspan(size);
  }
}

void probe_verdict::give(bool gave_up) {
  {
    std::lock_guard lock(mutex_);
    if (gave_up_) return;
    gave_up_ = gave_up;
  }
  given_.notify_all();
}

bool probe_verdict::wait() {
  std::unique_lock lock(mutex_);
  given_.wait(lock, [this] { return gave_up_.has_value(); });
  return *gave_up_;
}

namespace {

double entropy_of_counts(const std::array<std::uint32_t, 256>& counts, std::size_t total) noexcept {
  const double n = static_cast<double>(total);
  double bits = 0;
  int seen = 0;
  for (const std::uint32_t count : counts) {
    if (count == 0) continue;
    ++seen;
    const double p = count / n;
    bits -= p * std::log2(p);
  }
  return bits + (seen - 1) / (2 * n * std::numbers::ln2);
}

}  // namespace

double byte_entropy(std::span<const std::uint8_t> bytes) noexcept {
  if (bytes.empty()) return 0;
  std::array<std::uint32_t, 256> counts{};
  for (const std::uint8_t b : bytes) ++counts[b];
  return entropy_of_counts(counts, bytes.size());
}

namespace {

struct run_repeats {
  std::size_t looked_at = 0;
  std::size_t repeated = 0;
};

// The 8-byte runs of `bytes` at positions whose run hash has its top
// `anchor_bits` zero (0: all), and how many of them equal the last run
// looked at with the same hash: copies of a run are anchored alike wherever
// they lie, so repeats at any distance are seen.
run_repeats count_run_repeats(std::span<const std::uint8_t> bytes, int table_bits, int anchor_bits) {
  constexpr std::size_t kRun = 8;
  std::vector<std::uint32_t> last(std::size_t{1} << table_bits);  // position + 1; 0: none
  run_repeats counted;
  for (std::size_t at = 0; at + kRun <= bytes.size(); ++at) {
    std::uint64_t run = 0;
    std::memcpy(&run, bytes.data() + at, kRun);
    const std::uint64_t hash = run * 0x9E3779B97F4A7C15ull;
    if (anchor_bits > 0 && (hash >> (64 - anchor_bits)) != 0) continue;
    ++counted.looked_at;
    auto& slot = last[static_cast<std::size_t>((hash << anchor_bits) >> (64 - table_bits))];
    if (slot != 0 && std::memcmp(bytes.data() + slot - 1, bytes.data() + at, kRun) == 0) ++counted.repeated;
    slot = static_cast<std::uint32_t>(at + 1);
  }
  return counted;
}

}  // namespace

bool repeats_itself(std::span<const std::uint8_t> bytes) {
  const run_repeats counted = count_run_repeats(bytes, 12, 0);
  return counted.repeated * 64 > counted.looked_at;
}

bool looks_incompressible_throughout(std::span<const std::uint8_t> bytes) {
  constexpr std::size_t kWindow = shrink_probe::kSampleBytes;
  for (std::size_t at = 0; at < bytes.size(); at += kWindow) {
    const auto window = bytes.subspan(at, std::min(kWindow, bytes.size() - at));
    if (window.size() >= shrink_probe::kSampleMinBytes && byte_entropy(window) < shrink_probe::kIncompressibleBits)
      return false;
  }
  // Anchored (one position in 16): a whole file, its repeats at any distance.
  const run_repeats counted = count_run_repeats(bytes, 16, 4);
  return counted.repeated * 64 <= counted.looked_at;
}

namespace {

// Order-0 entropy of each kSampleBytes window of input delivered piecewise
// (the last window counts from kSampleMinBytes).
class window_entropy {
 public:
  bool low() const noexcept { return low_; }
  void add(std::span<const std::uint8_t> bytes) noexcept {
    for (const std::uint8_t b : bytes) {
      ++counts_[b];
      if (++filled_ < shrink_probe::kSampleBytes) continue;
      end_window();
      if (low_) return;  // judged: the rest need not be counted
    }
  }
  void finish() noexcept {
    if (filled_ >= shrink_probe::kSampleMinBytes) end_window();
  }

 private:
  void end_window() noexcept {
    low_ = low_ || entropy_of_counts(counts_, filled_) < shrink_probe::kIncompressibleBits;
    counts_ = {};
    filled_ = 0;
  }
  std::array<std::uint32_t, 256> counts_{};
  std::size_t filled_ = 0;
  bool low_ = false;
};

// The anchored 8-byte runs of input delivered piecewise, remembered by a
// 32-bit fingerprint (the input is not kept): a run whose fingerprint is
// the one last remembered in its slot repeats. One position in 256 is
// anchored, as copies of a run are wherever they lie: a duplicate of a few
// KiB shows. Four slots per anchor keep most runs until the end; at most
// 4 MiB of them, which no memory meter counts: it lives while a part is
// judged. A part and its primer of 78 MB get three slots per anchor; past
// 256 MiB (sevenzfs-pack's longest parts with their primers) fewer than
// one, and a distant copy may be missed: the part is then stored whole.
class run_memory {
 public:
  explicit run_memory(std::uint64_t bytes) {
    int bits = 12;
    while (bits < 20 && (std::uint64_t{1} << bits) < 4 * (bytes >> kAnchorBits)) ++bits;
    table_bits_ = bits;
    slots_.assign(std::size_t{1} << bits, 0);
  }
  // `counted`: whether its runs count as looked at (the input judged), or
  // are only remembered (what came before it).
  void add(std::span<const std::uint8_t> bytes, bool counted) noexcept {
    for (const std::uint8_t b : bytes) {
      run_ = (run_ >> 8) | (std::uint64_t{b} << 56);
      if (++seen_ < 8) continue;
      const std::uint64_t hash = run_ * 0x9E3779B97F4A7C15ull;
      if ((hash >> (64 - kAnchorBits)) != 0) continue;
      const auto fingerprint = static_cast<std::uint32_t>(((run_ ^ (run_ >> 29)) * 0xBF58476D1CE4E5B9ull) >> 32) | 1u;
      auto& slot = slots_[static_cast<std::size_t>((hash << kAnchorBits) >> (64 - table_bits_))];
      if (counted) {
        ++looked_at_;
        repeated_ += slot == fingerprint ? 1 : 0;
      }
      slot = fingerprint;
    }
  }
  // More than 1/1024 of the runs looked at: about what a duplicate of 3 KiB
  // in a part of 3 MiB saves.
  bool repeats() const noexcept { return repeated_ * 1024 > looked_at_; }

 private:
  static constexpr int kAnchorBits = 8;
  int table_bits_ = 12;
  std::vector<std::uint32_t> slots_;  // 0: empty (fingerprints are odd)
  std::uint64_t run_ = 0;
  std::uint64_t seen_ = 0;
  std::uint64_t looked_at_ = 0;
  std::uint64_t repeated_ = 0;
};

}  // namespace

input_verdict judge_input(const std::function<void(const judged_sink&)>& visit, std::uint64_t input_bytes,
                          std::span<const std::uint8_t> before) {
  if (input_bytes < shrink_probe::kSampleBytes) return input_verdict::compressible;
  window_entropy entropy;
  visit([&](std::span<const std::uint8_t> bytes) {
    if (!entropy.low()) entropy.add(bytes);
    return !entropy.low();
  });
  entropy.finish();
  if (entropy.low()) return input_verdict::compressible;
  run_memory runs(before.size() + input_bytes);
  runs.add(before, false);
  visit([&](std::span<const std::uint8_t> bytes) {
    runs.add(bytes, true);
    return true;
  });
  return runs.repeats() ? input_verdict::repeats : input_verdict::incompressible;
}

void shrink_probe::sample(lzma2_encoder& encoder, std::span<const std::uint8_t> input, const span_sink& output) {
  if (!whole_.empty()) {
    // The start looked incompressible: the whole file is judged.
    const std::size_t taken = std::min<std::size_t>(input.size(), input_bytes_ - whole_.size());
    whole_.insert(whole_.end(), input.begin(), input.begin() + static_cast<std::ptrdiff_t>(taken));
    if (whole_.size() < input_bytes_) return;
    sampling_ = false;
    gave_up_ = looks_incompressible_throughout(whole_);
    const std::vector<std::uint8_t> whole = std::move(whole_);
    whole_.clear();
    write(encoder, whole, output);
    write(encoder, input.subspan(taken), output);
    return;
  }
  const std::size_t wanted = static_cast<std::size_t>(std::min<std::uint64_t>(kSampleBytes, input_bytes_));
  const std::size_t taken = std::min(input.size(), wanted - held_bytes_);
  std::copy_n(input.begin(), taken, held_.begin() + static_cast<std::ptrdiff_t>(held_bytes_));
  held_bytes_ += taken;
  if (held_bytes_ < wanted) return;
  const std::span<const std::uint8_t> held(held_.data(), held_bytes_);
  const bool incompressible = byte_entropy(held) >= kIncompressibleBits && !repeats_itself(held);
  if (incompressible && input_bytes_ > wanted) {
    // Its start says little about the rest (random bytes, then text).
    whole_.reserve(static_cast<std::size_t>(input_bytes_));
    whole_.assign(held.begin(), held.end());
    sample(encoder, input.subspan(taken), output);
    return;
  }
  sampling_ = false;
  gave_up_ = incompressible;
  write(encoder, held, output);
  write(encoder, input.subspan(taken), output);
}

void shrink_probe::write(lzma2_encoder& encoder, std::span<const std::uint8_t> input, const span_sink& output) {
  if (sampling_) {
    sample(encoder, input, output);
    return;
  }
  if (gave_up_) {
    if (after_ == after_giving_up::raw_chunks) write_uncompressed_chunks(input, output);
    return;
  }
  if (!probing_) {
    encoder.write(input, output);
    return;
  }
  const span_sink counted = [&](std::span<const std::uint8_t> bytes) {
    packed_ += bytes.size();
    output(bytes);
  };
  const auto probed = static_cast<std::size_t>(std::min<std::uint64_t>(input.size(), kProbeBytes - fed_));
  encoder.write(input.first(probed), counted);
  fed_ += probed;
  if (fed_ < kProbeBytes) return;
  // Everything fed so far is out after a flush, so the comparison is exact.
  encoder.flush(counted);
  probing_ = false;
  gave_up_ = packed_ + fed_ / 64 >= fed_;
  write(encoder, input.subspan(probed), output);
}

bool shrink_probe::end_given_up(bool last, const span_sink& output) const {
  if (!gave_up_) return false;
  if (last && after_ == after_giving_up::raw_chunks) output(std::span(&kLzma2EndMarker, 1));
  return true;
}

}  // namespace sevenzfs::archive
