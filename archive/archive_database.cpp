#include "archive_database.hpp"

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace sevenzfs::archive {

std::size_t folder_graph::total_in_streams() const noexcept {
  std::size_t total = 0;
  for (const auto& coder : coders) total += coder.in_streams;
  return total;
}

std::size_t folder_graph::total_out_streams() const noexcept {
  std::size_t total = 0;
  for (const auto& coder : coders) total += coder.out_streams;
  return total;
}

std::size_t folder_graph::main_output() const noexcept {
  const std::size_t outputs = total_out_streams();
  for (std::size_t out = 0; out < outputs; ++out) {
    const bool bound = std::ranges::any_of(bind_pairs, [&](const bind_pair& pair) { return pair.out_index == out; });
    if (!bound) return out;
  }
  return 0;
}

folder_info::folder_info(std::shared_ptr<const folder_graph> graph, small_vector<std::uint64_t, 1> sizes,
                         std::optional<std::uint32_t> crc)
    : unpack_sizes(std::move(sizes)), unpack_crc(crc), graph_(std::move(graph)) {
  if (!graph_) throw std::invalid_argument("folder_info: no coder graph");
}

folder_info::folder_info(const folder_graph& graph, small_vector<std::uint64_t, 1> sizes,
                         std::optional<std::uint32_t> crc)
    : folder_info(std::make_shared<const folder_graph>(graph), std::move(sizes), crc) {}

std::uint64_t folder_info::unpack_size() const noexcept {
  const std::size_t main = main_output();
  return main < unpack_sizes.size() ? unpack_sizes[main] : 0;
}

std::shared_ptr<const folder_graph> one_coder_graph(const coder_info& coder) {
  // The coders this writer uses are few (LZMA2 with one dictionary byte of
  // about forty, Copy); the bound only keeps odd callers from growing it.
  // Only the writer's coders come here, never an archive's (untrusted).
  constexpr std::size_t kMaxShared = 64;
  static std::mutex mutex;
  static std::vector<std::shared_ptr<const folder_graph>> shared;
  std::lock_guard lock(mutex);
  for (const auto& graph : shared) {
    if (graph->coders.front() == coder) return graph;
  }
  auto made = std::make_shared<folder_graph>();
  made->coders.push_back(coder);
  std::shared_ptr<const folder_graph> graph = std::move(made);
  if (shared.size() < kMaxShared) shared.push_back(graph);
  return graph;
}

folder_info make_folder(const coder_info& coder, std::uint64_t unpack_size, std::optional<std::uint32_t> unpack_crc) {
  return folder_info(one_coder_graph(coder), {unpack_size}, unpack_crc);
}

}  // namespace sevenzfs::archive
