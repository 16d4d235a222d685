#pragma once
// Random-access reads of archived file content, for many threads at once.
// Decoded folder content is cached in fixed-size blocks (LRU, bounded in
// bytes) and decoders are kept where they stopped — both by the data they
// come from, so they serve every snapshot of the same data (an in-place
// commit does not make them cold) — so that:
//  - a forward sequential read of a large file decodes it once (each block
//    continues from the decoder the previous block left);
//  - reading every file of a solid folder, in any order, decodes the folder
//    about once when the cache holds it (a decoder passing blocks on its way
//    to the one asked for caches them too);
//  - two readers asking for the same block decode it once (the second
//    waits), and a reader whose block lies ahead of a busy decoder waits for
//    that decoder rather than starting another from the folder's start;
//  - a read far into a folder of one LZMA2 stream (a large file) with no
//    decoder where it begins starts decoding at the stream's last
//    dictionary reset before it, not at the folder's start: 7-Zip's
//    multithreaded encoder resets at every block, and a log appended to
//    across commits at each commit whose new bytes had no primer and at
//    least every four dictionaries (folder_packer.hpp). The chunk headers
//    are walked (a pread each) the first time such a read, or a data error,
//    comes for the folder's data; a sequential read never needs them.
// CRCs are checked as substreams are decoded in full (from the folder's
// start or from a reset before them, not by a decoder starting inside
// them); a mismatch is a corrupt_archive error on every read of that file
// from then on. Undecodable data is too, for every file from the damage to
// the next dictionary reset (to the folder's end when there is none): data
// after a reset does not depend on what came before it. Methods it cannot
// decode are unsupported errors, raised before any decoding.
//
// Lock order: mutex_ only; decoding runs without it.
#include "archive_error.hpp"
#include "archive_snapshot.hpp"
#include "block_cache.hpp"
#include "decoder_pool.hpp"
#include "lzma2_chunks.hpp"

#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <optional>
#include <span>
#include <unordered_set>
#include <vector>

namespace sevenzfs::archive {

struct reader_options {
  std::uint64_t cache_bytes = std::uint64_t{64} << 20;  // raised to at least kMinCacheBlocks blocks
  std::uint32_t block_size = 1 << 20;
  decoder_pool_limits decoders;
  std::uint64_t decoder_memory_limit = kDefaultDecoderMemoryLimit;  // per folder, see folder_decoder_options
};

inline constexpr std::uint64_t kMinCacheBlocks = 4;

struct reader_stats {
  std::uint64_t cache_bytes = 0;     // decoded data held
  std::uint64_t cache_capacity = 0;  // its bound
  std::uint64_t cache_blocks = 0;
  std::uint64_t hits = 0;            // block lookups answered from the cache
  std::uint64_t misses = 0;          // block lookups that decoded
  std::uint64_t bytes_decoded = 0;   // folder content decoded, blocks passed on the way included
  std::uint64_t decoders_alive = 0;  // kept between reads plus in use
  std::uint64_t decoders_created = 0;
  std::uint64_t decoder_memory = 0;  // estimated, of the kept ones
  std::uint64_t chunk_walks = 0;     // folders whose LZMA2 chunk headers were walked for entry points
};

class cached_reader {
 public:
  explicit cached_reader(reader_options options = {});
  ~cached_reader();
  cached_reader(const cached_reader&) = delete;
  cached_reader& operator=(const cached_reader&) = delete;

  // Copies the bytes of `substream` of `snapshot` from `offset` into `out`;
  // returns how many (fewer than out.size() only at the end of the file).
  std::size_t read(const archive_snapshot& snapshot, std::uint64_t substream, std::uint64_t offset,
                   std::span<std::uint8_t> out);

  // Drops what is kept for data no snapshot will read again (by its
  // archive_snapshot::data_identity()).
  void forget(std::uint64_t data_identity);
  // Lets go of the descriptors it keeps of files since removed (see
  // decoder_pool::erase_removed), which hold their space on disk.
  void forget_removed_files();

  reader_stats stats() const;

 private:
  struct busy_decoder {
    std::uint64_t data;        // the data identity of its snapshot
    std::uint64_t folder_key;  // where its folder lies
    std::uint64_t target_end;  // where it will stop
  };
  struct failure {
    // These blocks cannot be decoded: from the first one a decoder failed
    // in to the first block a later dictionary reset makes decodable again
    // (UINT64_MAX: to the folder's end).
    std::uint64_t block;
    std::uint64_t until;
    archive_error error;
  };
  using failure_key = std::pair<std::uint64_t, std::uint64_t>;  // (data identity, where the folder lies)

  block_data block(const archive_snapshot& snapshot, std::size_t folder, std::uint64_t index);
  block_data decode_blocks(std::unique_lock<std::mutex>& lock, const archive_snapshot& snapshot, std::size_t folder,
                           std::uint64_t index, decoder_ptr decoder, std::optional<lzma2_reset> entry);
  static void condemn(const archive_snapshot& snapshot, std::size_t folder, std::uint64_t from, std::uint64_t to);
  void remember_failure(const archive_snapshot& snapshot, std::size_t folder, std::unique_lock<std::mutex>& lock,
                        std::uint64_t block, std::optional<std::pair<std::uint64_t, std::uint64_t>> where,
                        const archive_error& error);
  bool busy_decoder_heading_to(std::uint64_t identity, std::uint64_t where, std::uint64_t position,
                               std::uint64_t beyond) const;
  void learn_entry_points(std::unique_lock<std::mutex>& lock, const archive_snapshot& snapshot, std::size_t folder);
  static std::vector<lzma2_reset> entry_points_of(const archive_snapshot& snapshot, std::size_t folder);
  void remember_entry_points(const failure_key& key, std::vector<lzma2_reset> resets);
  std::optional<lzma2_reset> entry_point_before(std::uint64_t identity, std::uint64_t where,
                                                std::uint64_t position) const;
  std::optional<lzma2_reset> entry_point_after(std::uint64_t identity, std::uint64_t where,
                                               std::uint64_t position) const;

  const std::uint64_t block_size_;
  const std::uint64_t decoder_memory_limit_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;  // a block arrived or a decoder was given back
  block_cache cache_;
  decoder_pool pool_;
  std::unordered_set<block_key, block_key_hash> in_flight_;
  std::list<busy_decoder> busy_;
  std::map<failure_key, std::vector<failure>> failures_;  // of corrupt or unsupported folders
  // Dictionary resets after the folder's start of the folders walked
  // (empty: none, or not a folder of one LZMA2 stream); at most
  // kMaxKnownFolders folders and kMaxKnownResets resets in all.
  static constexpr std::size_t kMaxKnownFolders = 4096;
  static constexpr std::size_t kMaxKnownResets = std::size_t{1} << 20;
  std::map<failure_key, std::vector<lzma2_reset>> entry_points_;
  std::size_t known_resets_ = 0;
  std::set<failure_key> walking_;  // folders whose chunk headers a reader is walking
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  std::uint64_t bytes_decoded_ = 0;
  std::uint64_t decoders_created_ = 0;
  std::uint64_t chunk_walks_ = 0;
};

}  // namespace sevenzfs::archive
