#include "archive_database.hpp"

#include <algorithm>

namespace sevenzfs::archive {

std::size_t folder_info::total_in_streams() const noexcept {
  std::size_t total = 0;
  for (const auto& coder : coders) total += coder.in_streams;
  return total;
}

std::size_t folder_info::total_out_streams() const noexcept {
  std::size_t total = 0;
  for (const auto& coder : coders) total += coder.out_streams;
  return total;
}

std::size_t folder_info::main_output() const noexcept {
  const std::size_t outputs = total_out_streams();
  for (std::size_t out = 0; out < outputs; ++out) {
    const bool bound = std::ranges::any_of(bind_pairs, [&](const bind_pair& pair) { return pair.out_index == out; });
    if (!bound) return out;
  }
  return 0;
}

std::uint64_t folder_info::unpack_size() const noexcept {
  const std::size_t main = main_output();
  return main < unpack_sizes.size() ? unpack_sizes[main] : 0;
}

folder_info make_folder(coder_info coder, std::uint64_t unpack_size, std::optional<std::uint32_t> unpack_crc) {
  folder_info folder;
  folder.coders.push_back(std::move(coder));
  folder.unpack_sizes.push_back(unpack_size);
  folder.unpack_crc = unpack_crc;
  return folder;
}

}  // namespace sevenzfs::archive
