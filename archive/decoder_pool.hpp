#pragma once
// The positioned decoders cached_reader keeps between reads, so that a
// forward read continues where the last one stopped instead of decoding the
// folder again from its start. Bounded in count (in all and per folder) and
// in memory; least recently used first out; at least one is kept. Not
// thread-safe: its owner locks.
#include "folder_decoder.hpp"
#include "substream_verifier.hpp"

#include <cstdint>
#include <list>
#include <memory>
#include <optional>

namespace sevenzfs::archive {

// A decoder in use by one reader at a time, with the CRC checks of what it
// has decoded: every substream it passes whole (one started at an entry
// point other than the folder's start does not see the substream it starts
// inside whole).
struct positioned_decoder {
  positioned_decoder(const archive_snapshot& from, std::size_t folder_index, std::uint64_t memory_limit,
                     std::optional<lzma2_reset> entry = std::nullopt);

  // Decodes on to `position` (not before the current one), checking what it passes.
  void skip_to(std::uint64_t position);

  // Kept alive: the decoder reads through its descriptor, and may serve a
  // later snapshot of the same data.
  std::shared_ptr<const archive_snapshot> source;
  std::size_t folder;        // in source
  std::uint64_t data;        // source's data identity
  std::uint64_t folder_key;  // where the folder lies
  folder_decoder decoder;
  substream_verifier verifier;
  std::uint64_t memory;
};

using decoder_ptr = std::unique_ptr<positioned_decoder>;

struct decoder_pool_limits {
  std::size_t max_idle = 16;
  std::size_t max_idle_per_folder = 2;
  std::uint64_t max_idle_memory = std::uint64_t{256} << 20;  // the most recent one is kept even above it
};

class decoder_pool {
 public:
  explicit decoder_pool(decoder_pool_limits limits) : limits_(limits) {}

  // The idle decoder of the folder at `folder_key` of data `data` furthest
  // along without being past `position`, and not before `not_before`; null
  // when there is none.
  decoder_ptr take(std::uint64_t data, std::uint64_t folder_key, std::uint64_t position,
                   std::uint64_t not_before = 0);
  // Keeps `decoder` for later reads (unless it has reached the folder's
  // end), dropping the least recently used beyond the limits.
  void put(decoder_ptr decoder);
  void erase_data(std::uint64_t data);
  // Drops the decoders whose file has been removed (a pending file the
  // daemon let go once its folders were committed): each holds a descriptor
  // of it, and so its space on disk, and no snapshot made later reads it.
  void erase_removed();

  std::size_t idle() const noexcept { return idle_.size(); }
  std::uint64_t memory() const noexcept { return memory_; }

 private:
  void drop(std::list<decoder_ptr>::iterator it);

  decoder_pool_limits limits_;
  std::list<decoder_ptr> idle_;  // most recently used first
  std::uint64_t memory_ = 0;
};

}  // namespace sevenzfs::archive
