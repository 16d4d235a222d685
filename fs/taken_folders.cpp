#include "taken_folders.hpp"

#include <algorithm>
#include <cstddef>

namespace sevenzfs::fs {

void taken_folders::append(std::vector<archive::finished_folder> folders) {
  std::size_t next_flat = first_flat_.empty() ? 0 : first_flat_.back() + folders_.back().ids.size();
  std::size_t files = 0;
  for (const auto& folder : folders) files += folder.ids.size();
  folders_.reserve(folders_.size() + folders.size());
  first_flat_.reserve(first_flat_.size() + folders.size());
  by_id_.reserve(by_id_.size() + files);
  const auto old_end = static_cast<std::ptrdiff_t>(by_id_.size());
  for (auto& folder : folders) {
    first_flat_.push_back(next_flat);
    for (const auto id : folder.ids) by_id_.push_back({id, next_flat++});
    folders_.push_back(std::move(folder));
  }
  // Lanes interleave their ids; each take is sorted, then merged with the
  // takes before it.
  const auto by_id = [](const file_entry& a, const file_entry& b) { return a.id < b.id; };
  std::sort(by_id_.begin() + old_end, by_id_.end(), by_id);
  std::inplace_merge(by_id_.begin(), by_id_.begin() + old_end, by_id_.end(), by_id);
}

std::optional<taken_folders::place> taken_folders::find(archive::pending_id id) const {
  const auto found = std::ranges::lower_bound(by_id_, id, {}, &file_entry::id);
  if (found == by_id_.end() || found->id != id) return std::nullopt;
  // The folder whose first file is the last at or before this one.
  const auto folder = std::ranges::upper_bound(first_flat_, found->flat) - first_flat_.begin() - 1;
  const auto f = static_cast<std::size_t>(folder);
  return place{f, found->flat - first_flat_[f], found->flat};
}

void taken_folders::clear() noexcept {
  // Swapped with empty ones: `= {}` would keep the capacity.
  std::vector<archive::finished_folder>().swap(folders_);
  std::vector<std::size_t>().swap(first_flat_);
  std::vector<file_entry>().swap(by_id_);
}

}  // namespace sevenzfs::fs
