#include "cookie_list.hpp"

namespace sevenzfs::fs {

void cookie_list::add(std::uint64_t cookie, std::uint64_t number) { slots_.push_back({cookie, number}); }

void cookie_list::remove(std::uint64_t cookie) {
  const auto it = std::ranges::lower_bound(slots_, cookie, {}, &slot::cookie);
  if (it == slots_.end() || it->cookie != cookie || it->number == kHole) return;
  it->number = kHole;
  if (++holes_ * 2 < slots_.size()) return;
  std::erase_if(slots_, [](const slot& s) { return s.number == kHole; });
  holes_ = 0;
  // A directory emptied by `rm -rf` gives its storage back.
  if (slots_.size() < slots_.capacity() / 4) slots_.shrink_to_fit();
}

}  // namespace sevenzfs::fs
