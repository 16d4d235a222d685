#include "decoder_pool.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <vector>

namespace sevenzfs::archive {

positioned_decoder::positioned_decoder(const archive_snapshot& from, std::size_t folder_index,
                                       std::uint64_t memory_limit, std::optional<lzma2_reset> entry)
    : source(from.shared_from_this()),
      folder(folder_index),
      data(from.data_identity()),
      folder_key(from.folder_key(folder_index)),
      decoder(from.fd(), from.path(), from.database().folders[folder_index], from.folder(folder_index).packs,
              {.memory_limit = memory_limit, .available = std::nullopt, .entry = entry}),
      verifier(from, folder_index, decoder.position()),
      memory(decoder.memory_usage()) {}

void positioned_decoder::skip_to(std::uint64_t position) {
  std::vector<std::uint8_t> scratch(std::min<std::uint64_t>(position - std::min(position, decoder.position()),
                                                            std::uint64_t{64} << 10));
  while (decoder.position() < position) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(scratch.size(), position - decoder.position()));
    const std::size_t got = decoder.read(std::span(scratch).first(n));
    verifier.consume(*source, std::span(scratch).first(got));
    if (got == 0) break;  // at the folder's end
  }
}

decoder_ptr decoder_pool::take(std::uint64_t data, std::uint64_t folder_key, std::uint64_t position,
                               std::uint64_t not_before) {
  auto best = idle_.end();
  for (auto it = idle_.begin(); it != idle_.end(); ++it) {
    const auto& candidate = **it;
    if (candidate.data != data || candidate.folder_key != folder_key || candidate.decoder.position() > position ||
        candidate.decoder.position() < not_before)
      continue;
    if (best == idle_.end() || candidate.decoder.position() > (*best)->decoder.position()) best = it;
  }
  if (best == idle_.end()) return nullptr;
  decoder_ptr taken = std::move(*best);
  memory_ -= taken->memory;
  idle_.erase(best);
  return taken;
}

void decoder_pool::put(decoder_ptr decoder) {
  if (decoder->decoder.position() >= decoder->decoder.size()) return;
  std::size_t same_folder = 0;
  for (auto it = idle_.begin(); it != idle_.end();) {
    const auto next = std::next(it);
    if ((*it)->data == decoder->data && (*it)->folder_key == decoder->folder_key &&
        ++same_folder >= std::max<std::size_t>(limits_.max_idle_per_folder, 1)) {
      drop(it);
    }
    it = next;
  }
  memory_ += decoder->memory;
  idle_.push_front(std::move(decoder));
  // The decoder just given back stays even when it alone is over the memory
  // bound: dropping it would make every later block of its folder start
  // again from the folder's start.
  while (idle_.size() > 1 && (idle_.size() > limits_.max_idle || memory_ > limits_.max_idle_memory)) {
    drop(std::prev(idle_.end()));
  }
}

void decoder_pool::erase_data(std::uint64_t data) {
  for (auto it = idle_.begin(); it != idle_.end();) {
    const auto next = std::next(it);
    if ((*it)->data == data) drop(it);
    it = next;
  }
}

void decoder_pool::erase_removed() {
  for (auto it = idle_.begin(); it != idle_.end();) {
    const auto next = std::next(it);
    struct stat st {};
    if (::fstat((*it)->source->fd(), &st) == 0 && st.st_nlink == 0) drop(it);
    it = next;
  }
}

void decoder_pool::drop(std::list<decoder_ptr>::iterator it) {
  memory_ -= (*it)->memory;
  idle_.erase(it);
}

}  // namespace sevenzfs::archive
