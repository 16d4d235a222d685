#include "staging_store.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>

namespace sevenzfs::pool {

namespace {

constexpr std::array<std::byte, kStagingChunkBytes> kZeros{};

int class_of(std::uint64_t size) noexcept {
  if (size < kSmallFileLimit) return 0;
  if (size < kMediumFileLimit) return 1;
  return 2;
}

}  // namespace

staged_file::staged_file(staging_store& store) noexcept : store_(&store) { store.file_created(); }

staged_file::~staged_file() {
  if (store_) store_->file_destroyed(*this);
}

staged_file::staged_file(staged_file&& other) noexcept
    : store_(other.store_), size_(other.size_), pieces_(std::move(other.pieces_)) {
  other.store_ = nullptr;
}

staging_store::staging_store(chunk_pool& chunks)
    : chunks_(chunks), live_(std::make_unique<std::atomic<std::uint32_t>[]>(chunks.chunk_count())) {
  if (chunks.chunk_bytes() != kStagingChunkBytes) {
    throw std::invalid_argument("the staging store needs a pool of 64 KiB chunks");
  }
}

staging_store::~staging_store() {
  if (tail_chunk_ != kNoChunk && live_[tail_chunk_].fetch_sub(kOpenFlag) == kOpenFlag) chunks_.release(tail_chunk_);
}

void staging_store::file_created() noexcept {
  files_.fetch_add(1, std::memory_order_relaxed);
  count_class(0, +1);
}

void staging_store::file_destroyed(staged_file& file) noexcept {
  clear(file);
  count_class(0, -1);
  files_.fetch_sub(1, std::memory_order_relaxed);
}

void staging_store::count_class(std::uint64_t size, int delta) noexcept {
  auto& counter = class_counts_[class_of(size)];
  if (delta > 0)
    counter.fetch_add(1, std::memory_order_relaxed);
  else
    counter.fetch_sub(1, std::memory_order_relaxed);
}

void staging_store::set_size(staged_file& file, std::uint64_t new_size) noexcept {
  if (new_size == file.size_) return;
  if (class_of(new_size) != class_of(file.size_)) {
    count_class(file.size_, -1);
    count_class(new_size, +1);
  }
  if (new_size > file.size_)
    bytes_.fetch_add(new_size - file.size_, std::memory_order_relaxed);
  else
    bytes_.fetch_sub(file.size_ - new_size, std::memory_order_relaxed);
  file.size_ = new_size;
}

std::optional<staging_store::allocation> staging_store::allocate(std::uint64_t wanted, memory_wait wait) noexcept {
  std::lock_guard lock(tail_mutex_);
  if (tail_chunk_ == kNoChunk || tail_used_ == kStagingChunkBytes) {
    if (tail_chunk_ != kNoChunk) {
      // Closing the chunk: whoever brings its count to zero frees it.
      if (live_[tail_chunk_].fetch_sub(kOpenFlag, std::memory_order_acq_rel) == kOpenFlag) {
        chunks_.release(tail_chunk_);
      }
      tail_chunk_ = kNoChunk;
    }
    // May wait for memory (backpressure); other writers queue behind the lock,
    // which they would do at the pool anyway.
    const auto chunk = wait == memory_wait::block ? chunks_.acquire() : chunks_.try_acquire();
    if (!chunk) return std::nullopt;
    live_[*chunk].store(kOpenFlag, std::memory_order_relaxed);
    tail_chunk_ = *chunk;
    tail_used_ = 0;
  }
  const auto length = static_cast<std::uint32_t>(std::min<std::uint64_t>(wanted, kStagingChunkBytes - tail_used_));
  const allocation result{tail_chunk_, tail_used_, length};
  tail_used_ += length;
  live_[tail_chunk_].fetch_add(length, std::memory_order_relaxed);
  live_bytes_.fetch_add(length, std::memory_order_relaxed);
  return result;
}

void staging_store::free_bytes(std::uint32_t chunk, std::uint64_t bytes) noexcept {
  live_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  const auto count = static_cast<std::uint32_t>(bytes);
  if (live_[chunk].fetch_sub(count, std::memory_order_acq_rel) == count) chunks_.release(chunk);
}

void staging_store::insert_piece(staged_file& file, std::size_t position, staged_file::piece p) {
  if (position > 0) {
    auto& previous = file.pieces_[position - 1];
    const bool contiguous = previous.end() == p.file_offset && previous.chunk == p.chunk &&
                            std::uint64_t{previous.chunk_offset} + previous.length() == p.chunk_offset;
    if (contiguous && previous.length() + p.length() <= kStagingChunkBytes) {
      previous.length_minus_one = static_cast<std::uint16_t>(previous.length() + p.length() - 1);
      return;
    }
  }
  file.pieces_.insert(file.pieces_.begin() + static_cast<std::ptrdiff_t>(position), p);
}

std::size_t staging_store::write(staged_file& file, std::uint64_t offset, std::span<const std::byte> data,
                                 memory_wait wait) noexcept {
  if (data.empty()) return 0;
  auto& pieces = file.pieces_;
  const std::uint64_t end = offset + data.size();
  std::uint64_t position = offset;
  // First piece that ends after `position`.
  std::size_t index = static_cast<std::size_t>(
      std::ranges::upper_bound(pieces, position, {}, [](const auto& p) { return p.end(); }) - pieces.begin());
  while (position < end) {
    const std::byte* source = data.data() + (position - offset);
    if (index < pieces.size() && pieces[index].file_offset <= position) {
      const auto& p = pieces[index];
      const std::uint64_t n = std::min(end, p.end()) - position;
      std::memcpy(chunks_.chunk(p.chunk).data() + p.chunk_offset + (position - p.file_offset), source, n);
      position += n;
      ++index;
      continue;
    }
    const std::uint64_t gap_end = index < pieces.size() ? std::min(end, pieces[index].file_offset) : end;
    const auto got = allocate(gap_end - position, wait);
    if (!got) break;
    std::memcpy(chunks_.chunk(got->chunk).data() + got->offset, source, got->length);
    const std::size_t before = pieces.size();
    insert_piece(
        file, index,
        {position, got->chunk, static_cast<std::uint16_t>(got->offset), static_cast<std::uint16_t>(got->length - 1)});
    if (pieces.size() > before) ++index;
    position += got->length;
  }
  set_size(file, std::max(file.size_, position));
  return static_cast<std::size_t>(position - offset);
}

std::size_t staging_store::read(const staged_file& file, std::uint64_t offset,
                                std::span<std::byte> out) const noexcept {
  if (offset >= file.size_) return 0;
  const std::uint64_t end = offset + std::min<std::uint64_t>(out.size(), file.size_ - offset);
  const auto& pieces = file.pieces_;
  auto it = std::ranges::upper_bound(pieces, offset, {}, [](const auto& p) { return p.end(); });
  std::uint64_t position = offset;
  while (position < end) {
    std::byte* target = out.data() + (position - offset);
    if (it != pieces.end() && it->file_offset <= position) {
      const std::uint64_t n = std::min(end, it->end()) - position;
      std::memcpy(target, chunks_.chunk(it->chunk).data() + it->chunk_offset + (position - it->file_offset), n);
      position += n;
      ++it;
    } else {
      const std::uint64_t hole_end = it != pieces.end() ? std::min(end, it->file_offset) : end;
      std::memset(target, 0, hole_end - position);
      position = hole_end;
    }
  }
  return static_cast<std::size_t>(end - offset);
}

void staging_store::truncate(staged_file& file, std::uint64_t new_size) noexcept {
  auto& pieces = file.pieces_;
  while (!pieces.empty() && pieces.back().end() > new_size) {
    auto& last = pieces.back();
    if (last.file_offset >= new_size) {
      free_bytes(last.chunk, last.length());
      pieces.pop_back();
    } else {
      const std::uint64_t cut = last.end() - new_size;
      last.length_minus_one = static_cast<std::uint16_t>(last.length() - cut - 1);
      free_bytes(last.chunk, cut);
    }
  }
  set_size(file, new_size);
}

void staging_store::clear(staged_file& file) noexcept {
  for (const auto& p : file.pieces_) free_bytes(p.chunk, p.length());
  file.pieces_.clear();
  file.pieces_.shrink_to_fit();
  set_size(file, 0);
}

void staging_store::for_each_span(const staged_file& file,
                                  const std::function<void(std::span<const std::byte>)>& sink) const {
  std::uint64_t position = 0;
  auto zeros_until = [&](std::uint64_t target) {
    while (position < target) {
      const auto n = std::min<std::uint64_t>(target - position, kZeros.size());
      sink(std::span(kZeros.data(), n));
      position += n;
    }
  };
  for (const auto& p : file.pieces_) {
    zeros_until(p.file_offset);
    sink(std::span<const std::byte>(chunks_.chunk(p.chunk).data() + p.chunk_offset, p.length()));
    position = p.end();
  }
  zeros_until(file.size_);
}

staging_stats staging_store::stats() const noexcept {
  staging_stats s;
  s.files = files_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.small_files = class_counts_[0].load(std::memory_order_relaxed);
  s.medium_files = class_counts_[1].load(std::memory_order_relaxed);
  s.large_files = class_counts_[2].load(std::memory_order_relaxed);
  s.live_bytes = live_bytes_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace sevenzfs::pool
