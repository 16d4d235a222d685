#pragma once
// The decoded-data cache of cached_reader: fixed-size blocks of folder
// content keyed by (data identity, where the folder lies, block index), least recently used
// first out, bounded in bytes. Not thread-safe: its owner locks.
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

namespace sevenzfs::archive {

struct block_key {
  std::uint64_t snapshot = 0;
  std::uint64_t folder = 0;
  std::uint64_t block = 0;
  bool operator==(const block_key&) const = default;
};

struct block_key_hash {
  std::size_t operator()(const block_key& key) const noexcept {
    std::uint64_t h = key.snapshot * 0x9E3779B97F4A7C15ULL;
    h ^= key.folder + 0x7F4A7C15ULL + (h << 6) + (h >> 2);
    h ^= key.block + 0x9E3779B9ULL + (h << 6) + (h >> 2);
    return static_cast<std::size_t>(h);
  }
};

using block_data = std::shared_ptr<const std::vector<std::uint8_t>>;

class block_cache {
 public:
  explicit block_cache(std::uint64_t capacity_bytes) : capacity_(capacity_bytes) {}

  // The block, now the most recently used; null when absent.
  block_data find(const block_key& key);
  bool contains(const block_key& key) const { return index_.contains(key); }
  // Adds (or replaces) a block and evicts the least recently used ones
  // beyond the capacity.
  void insert(const block_key& key, block_data data);
  void erase_snapshot(std::uint64_t snapshot);

  // Bytes held, counting a small per-block overhead so that many tiny
  // blocks cannot exceed the budget unnoticed.
  std::uint64_t bytes() const noexcept { return bytes_; }
  std::uint64_t capacity() const noexcept { return capacity_; }
  std::size_t blocks() const noexcept { return index_.size(); }

 private:
  struct entry {
    block_key key;
    block_data data;
  };
  using entry_list = std::list<entry>;

  static std::uint64_t cost(const block_data& data) noexcept;
  void erase(entry_list::iterator it);

  std::uint64_t capacity_;
  std::uint64_t bytes_ = 0;
  entry_list lru_;  // most recently used first
  std::unordered_map<block_key, entry_list::iterator, block_key_hash> index_;
};

}  // namespace sevenzfs::archive
