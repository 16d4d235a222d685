#include "block_cache.hpp"

namespace sevenzfs::archive {

namespace {

constexpr std::uint64_t kEntryOverhead = 128;

}  // namespace

std::uint64_t block_cache::cost(const block_data& data) noexcept { return data->size() + kEntryOverhead; }

block_data block_cache::find(const block_key& key) {
  const auto found = index_.find(key);
  if (found == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, found->second);
  return found->second->data;
}

void block_cache::insert(const block_key& key, block_data data) {
  if (const auto found = index_.find(key); found != index_.end()) erase(found->second);
  bytes_ += cost(data);
  lru_.push_front({key, std::move(data)});
  index_.emplace(key, lru_.begin());
  while (bytes_ > capacity_ && !lru_.empty()) erase(std::prev(lru_.end()));
}

void block_cache::erase_snapshot(std::uint64_t snapshot) {
  for (auto it = lru_.begin(); it != lru_.end();) {
    const auto next = std::next(it);
    if (it->key.snapshot == snapshot) erase(it);
    it = next;
  }
}

void block_cache::erase(entry_list::iterator it) {
  bytes_ -= cost(it->data);
  index_.erase(it->key);
  lru_.erase(it);
}

}  // namespace sevenzfs::archive
