#pragma once
// A directory's children in the order they were added, each with the
// readdir cookie it got then (cookies only grow, so readdir offsets stay
// valid while entries come and go). A sorted vector: 16 bytes an entry
// (up to 64 with holes and spare capacity), where a std::map node cost about
// 64. A removal leaves a hole, and the holes are squeezed out once they are
// half the vector.
#include <algorithm>
#include <cstdint>
#include <vector>

namespace sevenzfs::fs {

class cookie_list {
 public:
  // `cookie` is above every cookie added before.
  void add(std::uint64_t cookie, std::uint64_t number);
  void remove(std::uint64_t cookie);
  // Calls `visit(cookie, number)` for the entries after cookie `after`, in
  // order, until it returns false. `visit` must not change the list (the
  // inode table's lock makes sure of that: listing holds it shared).
  template <class Visit>
  void visit_after(std::uint64_t after, Visit&& visit) const {
    auto it = std::ranges::upper_bound(slots_, after, {}, &slot::cookie);
    for (; it != slots_.end(); ++it) {
      if (it->number != kHole && !visit(it->cookie, it->number)) return;
    }
  }

 private:
  static constexpr std::uint64_t kHole = 0;  // no inode has number 0
  struct slot {
    std::uint64_t cookie;
    std::uint64_t number;
  };
  std::vector<slot> slots_;  // ascending cookie
  std::size_t holes_ = 0;
};

}  // namespace sevenzfs::fs
