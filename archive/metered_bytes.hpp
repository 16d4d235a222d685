#pragma once
// Byte buffers that report what they hold to a shared meter, so that the
// compression pipelines (parallel_encoder, pending_folders) can bound and
// test the input and packed bytes they keep.
#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

namespace sevenzfs::archive {

// Bytes held now and the most ever held, by buffers that report to it.
class memory_meter {
 public:
  void add(std::uint64_t bytes) noexcept;
  void remove(std::uint64_t bytes) noexcept { held_.fetch_sub(bytes, std::memory_order_relaxed); }
  std::uint64_t held() const noexcept { return held_.load(std::memory_order_relaxed); }
  std::uint64_t peak() const noexcept { return peak_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> held_{0};
  std::atomic<std::uint64_t> peak_{0};
};

// A byte buffer counted by a meter for as long as it lives (its size, not
// its capacity: reserved pages never written are not backed by memory).
class metered_bytes {
 public:
  explicit metered_bytes(memory_meter& meter) noexcept : meter_(meter) {}
  ~metered_bytes() { meter_.remove(counted_); }
  metered_bytes(const metered_bytes&) = delete;
  metered_bytes& operator=(const metered_bytes&) = delete;

  void append(std::span<const std::uint8_t> data);
  // Keeps the last `count` bytes (all of them when there are fewer).
  void keep_last(std::size_t count);
  void clear();
  std::vector<std::uint8_t>& bytes() noexcept { return bytes_; }
  const std::vector<std::uint8_t>& bytes() const noexcept { return bytes_; }

 private:
  void recount() noexcept;

  memory_meter& meter_;
  std::vector<std::uint8_t> bytes_;
  std::uint64_t counted_ = 0;
};

}  // namespace sevenzfs::archive
