#include "cached_reader.hpp"

#include "archive_error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace sevenzfs::archive {

cached_reader::cached_reader(reader_options options)
    : block_size_(std::max<std::uint64_t>(options.block_size, 4096)),
      decoder_memory_limit_(options.decoder_memory_limit),
      cache_(std::max(options.cache_bytes, kMinCacheBlocks * block_size_)),
      pool_(options.decoders) {}

cached_reader::~cached_reader() = default;

std::size_t cached_reader::read(const archive_snapshot& snapshot, std::uint64_t substream, std::uint64_t offset,
                                std::span<std::uint8_t> out) {
  if (substream >= snapshot.substream_count()) {
    throw archive_error(error_kind::invalid_input, snapshot.path(), fmt::format("no stream {}", substream));
  }
  const auto& location = snapshot.substream(substream);
  const auto name = [&] { return snapshot.substream_name(substream); };
  const auto check_crc = [&] {
    if (snapshot.verdict(substream) == archive_snapshot::crc_verdict::bad) {
      throw archive_error(error_kind::corrupt_archive, snapshot.path(),
                          fmt::format("{}: damaged data (CRC mismatch or undecodable)", name()));
    }
  };
  check_crc();
  if (const auto method = snapshot.unsupported_method(substream)) {
    throw archive_error(error_kind::unsupported, snapshot.path(),
                        fmt::format("{}: compression method {} is not supported", name(), *method));
  }
  if (offset >= location.size || out.empty()) return 0;
  const auto count = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), location.size - offset));
  const std::uint64_t start = location.offset + offset;
  std::size_t done = 0;
  try {
    while (done < count) {
      const std::uint64_t position = start + done;
      const std::uint64_t index = position / block_size_;
      const auto data = block(snapshot, location.folder, index);
      const auto within = static_cast<std::size_t>(position - index * block_size_);
      if (within >= data->size()) {
        throw archive_error(error_kind::corrupt_archive, snapshot.path(), "damaged folder: shorter than its files");
      }
      const std::size_t n = std::min(data->size() - within, count - done);
      std::memcpy(out.data() + done, data->data() + within, n);
      done += n;
    }
  } catch (const archive_error& error) {
    throw about_file(error, name());
  }
  check_crc();
  return count;
}

block_data cached_reader::block(const archive_snapshot& snapshot, std::size_t folder, std::uint64_t index) {
  const std::uint64_t identity = snapshot.data_identity();
  const std::uint64_t where = snapshot.folder_key(folder);
  const block_key key{identity, where, index};
  std::unique_lock lock(mutex_);
  for (;;) {
    if (auto data = cache_.find(key)) {
      ++hits_;
      return data;
    }
    if (const auto failed = failures_.find({identity, where}); failed != failures_.end()) {
      for (const auto& known : failed->second) {
        if (known.block <= index && index < known.until) throw known.error;
      }
    }
    if (in_flight_.contains(key)) {
      changed_.wait(lock);
      continue;
    }
    const std::uint64_t position = index * block_size_;
    // A decoder that stopped where this block begins goes on (a sequential
    // read): nothing can start nearer, and the chunk headers are not walked.
    auto decoder = pool_.take(identity, where, position, position);
    std::optional<lzma2_reset> entry;
    std::uint64_t entry_start = 0;
    if (!decoder && index > 0) {
      if (walking_.contains({identity, where})) {
        changed_.wait(lock);
        continue;
      }
      if (!entry_points_.contains({identity, where})) {
        learn_entry_points(lock, snapshot, folder);
        continue;  // the lock was let go
      }
      // A decoder behind the last reset before the block would decode more
      // than one starting at that reset (at the first block boundary after it).
      entry = entry_point_before(identity, where, position);
      entry_start = entry ? (entry->unpacked + block_size_ - 1) / block_size_ * block_size_ : 0;
      decoder = pool_.take(identity, where, position, entry_start);
    }
    if (!decoder && busy_decoder_heading_to(identity, where, position, entry_start)) {
      changed_.wait(lock);
      continue;
    }
    ++misses_;
    const auto start = decoder ? std::nullopt : entry;
    return decode_blocks(lock, snapshot, folder, index, std::move(decoder), start);
  }
}

// A busy decoder that will stop short of `position`, past `beyond`: the
// reader continues from where it stops.
bool cached_reader::busy_decoder_heading_to(std::uint64_t identity, std::uint64_t where, std::uint64_t position,
                                            std::uint64_t beyond) const {
  return std::ranges::any_of(busy_, [&](const busy_decoder& busy) {
    return busy.data == identity && busy.folder_key == where && busy.target_end <= position &&
           busy.target_end > beyond;
  });
}

// Walks the chunk headers of `folder` without the lock; readers of the
// folder meanwhile wait for it. Returns, also by an exception, with `lock`
// held.
void cached_reader::learn_entry_points(std::unique_lock<std::mutex>& lock, const archive_snapshot& snapshot,
                                       std::size_t folder) {
  const failure_key key{snapshot.data_identity(), snapshot.folder_key(folder)};
  walking_.insert(key);
  ++chunk_walks_;
  lock.unlock();
  std::vector<lzma2_reset> resets;
  try {
    resets = entry_points_of(snapshot, folder);
  } catch (...) {
    lock.lock();
    walking_.erase(key);
    changed_.notify_all();
    throw;
  }
  lock.lock();
  walking_.erase(key);
  changed_.notify_all();
  remember_entry_points(key, std::move(resets));
}

// The dictionary resets of `folder` after its start: none unless it is a
// single LZMA2 stream whose chunk headers are whole. A snapshot held across
// an in-place continuation of its last folder has that folder's end marker
// written over by the next chunk's header; its chunks are still whole
// without the marker's byte.
std::vector<lzma2_reset> cached_reader::entry_points_of(const archive_snapshot& snapshot, std::size_t folder) {
  std::vector<lzma2_reset> resets;
  const folder_info& info = snapshot.database().folders[folder];
  const auto& packs = snapshot.folder(folder).packs;
  if (is_one_lzma2_stream(info) && packs.size() == 1) {
    const byte_range packed{packs.front().offset, packs.front().size};
    auto chunks = walk_lzma2_chunks(snapshot.fd(), packed);
    if (!chunks && packed.size > 1) chunks = walk_lzma2_chunks(snapshot.fd(), {packed.offset, packed.size - 1});
    if (chunks && chunks->unpacked_bytes == info.unpack_sizes.front()) {
      resets = std::move(chunks->resets);
      std::erase_if(resets, [](const lzma2_reset& reset) { return reset.unpacked == 0; });
    }
  }
  return resets;
}

// What is kept is bounded: past the bounds it is forgotten (snapshots of
// pending data come and go, each its own data).
void cached_reader::remember_entry_points(const failure_key& key, std::vector<lzma2_reset> resets) {
  if (entry_points_.contains(key)) return;
  if (entry_points_.size() >= kMaxKnownFolders || known_resets_ + resets.size() > kMaxKnownResets) {
    entry_points_.clear();
    known_resets_ = 0;
  }
  known_resets_ += resets.size();
  entry_points_.emplace(key, std::move(resets));
}

// The first dictionary reset after `position`.
std::optional<lzma2_reset> cached_reader::entry_point_after(std::uint64_t identity, std::uint64_t where,
                                                            std::uint64_t position) const {
  const auto known = entry_points_.find({identity, where});
  if (known == entry_points_.end()) return std::nullopt;
  const auto after = std::ranges::upper_bound(known->second, position, {}, &lzma2_reset::unpacked);
  if (after == known->second.end()) return std::nullopt;
  return *after;
}

// The last dictionary reset at or before `position` other than the folder's start.
std::optional<lzma2_reset> cached_reader::entry_point_before(std::uint64_t identity, std::uint64_t where,
                                                             std::uint64_t position) const {
  const auto known = entry_points_.find({identity, where});
  if (known == entry_points_.end()) return std::nullopt;
  const auto& resets = known->second;
  const auto after = std::ranges::upper_bound(resets, position, {}, &lzma2_reset::unpacked);
  if (after == resets.begin()) return std::nullopt;
  return *std::prev(after);
}

// Runs `decoder` (or a new one from `entry`, else from the folder's start)
// up to and through block `index`, caching every block it passes (a new
// decoder from an entry point, from the first block boundary after it).
// Called and returns with `lock` held; decodes without it.
block_data cached_reader::decode_blocks(std::unique_lock<std::mutex>& lock, const archive_snapshot& snapshot,
                                        std::size_t folder, std::uint64_t index, decoder_ptr decoder,
                                        std::optional<lzma2_reset> entry) {
  const std::uint64_t identity = snapshot.data_identity();
  const std::uint64_t where = snapshot.folder_key(folder);
  const std::uint64_t first = decoder ? decoder->decoder.position() / block_size_
                              : entry ? (entry->unpacked + block_size_ - 1) / block_size_
                                      : 0;
  // Claim the blocks on the way that nobody has or is decoding, so that
  // readers of those wait for this decoder instead of starting their own.
  std::vector<bool> claimed;
  for (std::uint64_t i = first; i <= index; ++i) {
    const block_key key{identity, where, i};
    claimed.push_back(!cache_.contains(key) && in_flight_.insert(key).second);
  }
  const auto busy = busy_.insert(busy_.end(), {identity, where, (index + 1) * block_size_});
  std::uint64_t current = first;
  // Where decoding is, should it fail: in [failing_from, failing_to) (a new
  // decoder may fail while it skips from its entry point to the first block
  // boundary); nullopt while no decoder is built, which says nothing about
  // where the damage lies.
  std::optional<std::pair<std::uint64_t, std::uint64_t>> failing;
  const auto release = [&] {
    if (!lock.owns_lock()) lock.lock();
    for (std::uint64_t i = current; i <= index; ++i) {
      if (claimed[i - first]) in_flight_.erase({identity, where, i});
    }
    busy_.erase(busy);
    changed_.notify_all();
  };
  block_data result;
  lock.unlock();
  try {
    if (!decoder) {
      decoder = std::make_unique<positioned_decoder>(snapshot, folder, decoder_memory_limit_, entry);
      failing.emplace(decoder->decoder.position(), std::max(first * block_size_, decoder->decoder.position() + 1));
      lock.lock();
      ++decoders_created_;
      lock.unlock();
      const std::uint64_t skipped = first * block_size_ - decoder->decoder.position();
      decoder->skip_to(first * block_size_);
      lock.lock();
      bytes_decoded_ += skipped;
      lock.unlock();
    }
    for (; current <= index; ++current) {
      const std::uint64_t begin = current * block_size_;
      failing.emplace(begin, begin + block_size_);
      const auto size = static_cast<std::size_t>(std::min(block_size_, decoder->decoder.size() - begin));
      std::vector<std::uint8_t> bytes(size);
      decoder->decoder.read(bytes);
      // The decoder's own snapshot: its substream numbers are the verifier's.
      decoder->verifier.consume(*decoder->source, bytes);
      auto data = std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes));
      lock.lock();
      bytes_decoded_ += size;
      const block_key key{identity, where, current};
      if (claimed[current - first]) {
        in_flight_.erase(key);
        cache_.insert(key, data);
      } else if (!cache_.contains(key)) {
        cache_.insert(key, data);
      }
      changed_.notify_all();
      lock.unlock();
      if (current == index) result = std::move(data);
    }
  } catch (const archive_error& error) {
    if (!lock.owns_lock()) lock.lock();
    // Recorded before the blocks are let go, so that readers waiting for
    // them find the failure rather than decode up to it again.
    remember_failure(snapshot, folder, lock, current, failing, error);
    release();
    throw;
  } catch (...) {
    release();
    throw;
  }
  release();
  pool_.put(std::move(decoder));
  return result;
}

// Data errors and unsupported methods stay what they are: remembered
// instead of decoding the folder again at every read. Damaged data makes
// undecodable what follows it up to the next dictionary reset, from which
// decoding starts afresh. Decoding failed somewhere in [where.first,
// where.second): a reset inside that range may lie before the damage, so
// the failure reaches to the first reset at or after its end. The blocks
// from `block` to that reset's cannot be decoded, and the files with data
// from `where.first` to it are damaged. Without `where` (no decoder could
// be built), the whole folder from `block` on. Called and returns
// with `lock` held; lets it go only to walk the chunk headers, while the
// caller still holds the blocks it claimed.
void cached_reader::remember_failure(const archive_snapshot& snapshot, std::size_t folder,
                                     std::unique_lock<std::mutex>& lock, std::uint64_t block,
                                     std::optional<std::pair<std::uint64_t, std::uint64_t>> where,
                                     const archive_error& error) {
  if (error.kind() != error_kind::corrupt_archive && error.kind() != error_kind::unsupported) return;
  const failure_key key{snapshot.data_identity(), snapshot.folder_key(folder)};
  std::uint64_t until = UINT64_MAX;
  std::uint64_t damaged_from = block * block_size_;
  std::uint64_t damaged_to = UINT64_MAX;
  if (error.kind() == error_kind::corrupt_archive && where) {
    damaged_from = where->first;
    if (!entry_points_.contains(key) && !walking_.contains(key)) {
      try {
        learn_entry_points(lock, snapshot, folder);
      } catch (...) {
        // Without them the failure reaches to the folder's end, as it
        // would in a folder without resets (the lock is held again).
      }
    }
    if (const auto next = entry_point_after(key.first, key.second, where->second - 1)) {
      damaged_to = next->unpacked;
      until = (next->unpacked + block_size_ - 1) / block_size_;
    }
  }
  auto& known = failures_[key];
  if (std::ranges::none_of(known, [&](const failure& f) { return f.block <= block && block < f.until; })) {
    known.push_back({block, until, error});
  }
  // A file whose data cannot be decoded is as damaged as one failing its
  // CRC: every later read of it says so, also of its readable start.
  if (error.kind() == error_kind::corrupt_archive) condemn(snapshot, folder, damaged_from, damaged_to);
}

// The substreams of `folder` with content in [from, to) are damaged.
void cached_reader::condemn(const archive_snapshot& snapshot, std::size_t folder, std::uint64_t from,
                            std::uint64_t to) {
  const auto& layout = snapshot.folder(folder);
  for (std::uint64_t s = layout.first_substream; s < layout.first_substream + layout.substream_count; ++s) {
    const auto& location = snapshot.substream(s);
    if (location.offset + location.size > from && location.offset < to) snapshot.record_verdict(s, false);
  }
}

void cached_reader::forget_removed_files() {
  std::lock_guard lock(mutex_);
  pool_.erase_removed();
}

void cached_reader::forget(std::uint64_t data_identity) {
  std::lock_guard lock(mutex_);
  cache_.erase_snapshot(data_identity);
  pool_.erase_data(data_identity);
  std::erase_if(failures_, [&](const auto& entry) { return entry.first.first == data_identity; });
  std::erase_if(entry_points_, [&](const auto& entry) {
    if (entry.first.first != data_identity) return false;
    known_resets_ -= entry.second.size();
    return true;
  });
}

reader_stats cached_reader::stats() const {
  std::lock_guard lock(mutex_);
  reader_stats stats;
  stats.cache_bytes = cache_.bytes();
  stats.cache_capacity = cache_.capacity();
  stats.cache_blocks = cache_.blocks();
  stats.hits = hits_;
  stats.misses = misses_;
  stats.bytes_decoded = bytes_decoded_;
  stats.decoders_alive = pool_.idle() + busy_.size();
  stats.decoders_created = decoders_created_;
  stats.decoder_memory = pool_.memory();
  stats.chunk_walks = chunk_walks_;
  return stats;
}

}  // namespace sevenzfs::archive
