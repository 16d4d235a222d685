#include "metered_bytes.hpp"

namespace sevenzfs::archive {

void memory_meter::add(std::uint64_t bytes) noexcept {
  const std::uint64_t now = held_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  std::uint64_t seen = peak_.load(std::memory_order_relaxed);
  while (now > seen && !peak_.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
  }
}

void metered_bytes::append(std::span<const std::uint8_t> data) {
  bytes_.insert(bytes_.end(), data.begin(), data.end());
  recount();
}

void metered_bytes::keep_last(std::size_t count) {
  if (count >= bytes_.size()) return;
  bytes_.erase(bytes_.begin(), bytes_.end() - static_cast<std::ptrdiff_t>(count));
  recount();
}

void metered_bytes::clear() {
  bytes_.clear();
  recount();
}

void metered_bytes::recount() noexcept {
  const std::uint64_t now = bytes_.size();
  if (now > counted_) meter_.add(now - counted_);
  if (now < counted_) meter_.remove(counted_ - now);
  counted_ = now;
}

}  // namespace sevenzfs::archive
