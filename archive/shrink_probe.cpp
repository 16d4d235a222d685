#include "shrink_probe.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <numbers>

namespace sevenzfs::archive {

namespace {

constexpr std::size_t kUncompressedChunkMax = 64 * 1024;
constexpr std::uint8_t kUncompressedKeepDictionary = 0x02;

}  // namespace

void write_uncompressed_chunks(std::span<const std::uint8_t> input, const span_sink& output) {
  while (!input.empty()) {
    const std::size_t size = std::min(input.size(), kUncompressedChunkMax);
    const std::array<std::uint8_t, 3> header{kUncompressedKeepDictionary, static_cast<std::uint8_t>((size - 1) >> 8),
                                             static_cast<std::uint8_t>((size - 1) & 0xff)};
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

double byte_entropy(std::span<const std::uint8_t> bytes) noexcept {
  if (bytes.empty()) return 0;
  std::array<std::uint32_t, 256> counts{};
  for (const std::uint8_t b : bytes) ++counts[b];
  const double n = static_cast<double>(bytes.size());
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

bool repeats_itself(std::span<const std::uint8_t> bytes) noexcept {
  constexpr std::size_t kRun = 8;
  constexpr int kTableBits = 12;
  if (bytes.size() < kRun) return false;
  // The last position of each hashed 8-byte run, plus one (0: none); a
  // sample is at most 64 KiB here.
  std::array<std::uint16_t, std::size_t{1} << kTableBits> last{};
  const std::size_t limit = std::min<std::size_t>(bytes.size() - kRun + 1, 65535);
  std::size_t repeated = 0;
  for (std::size_t at = 0; at < limit; ++at) {
    std::uint64_t run = 0;
    std::memcpy(&run, bytes.data() + at, kRun);
    const auto slot = static_cast<std::size_t>((run * 0x9E3779B97F4A7C15ull) >> (64 - kTableBits));
    if (last[slot] != 0 && std::memcmp(bytes.data() + last[slot] - 1, bytes.data() + at, kRun) == 0) ++repeated;
    last[slot] = static_cast<std::uint16_t>(at + 1);
  }
  return repeated * 64 > limit;
}

bool looks_incompressible_throughout(std::span<const std::uint8_t> bytes) {
  constexpr std::size_t kWindow = shrink_probe::kSampleBytes;
  for (std::size_t at = 0; at < bytes.size(); at += kWindow) {
    const auto window = bytes.subspan(at, std::min(kWindow, bytes.size() - at));
    if (window.size() >= shrink_probe::kSampleMinBytes && byte_entropy(window) < shrink_probe::kIncompressibleBits)
      return false;
  }
  // Repeats at any distance (a random block repeated): 8-byte runs at
  // anchors, the positions whose run hashes to 0 in its top 4 bits, so
  // that copies of a run are anchored alike wherever they lie.
  constexpr std::size_t kRun = 8;
  constexpr int kTableBits = 16;
  std::vector<std::uint32_t> last(std::size_t{1} << kTableBits);
  std::size_t anchors = 0;
  std::size_t repeated = 0;
  for (std::size_t at = 0; at + kRun <= bytes.size(); ++at) {
    std::uint64_t run = 0;
    std::memcpy(&run, bytes.data() + at, kRun);
    const std::uint64_t hash = run * 0x9E3779B97F4A7C15ull;
    if ((hash >> 60) != 0) continue;
    ++anchors;
    auto& slot = last[static_cast<std::size_t>(hash >> (60 - kTableBits)) & ((std::size_t{1} << kTableBits) - 1)];
    if (slot != 0 && std::memcmp(bytes.data() + slot - 1, bytes.data() + at, kRun) == 0) ++repeated;
    slot = static_cast<std::uint32_t>(at + 1);
  }
  return repeated * 64 <= anchors;
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
