#include "sealed_bytes.hpp"

#include "archive/archive_error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace sevenzfs::fs {

sealed_bytes::sealed_bytes(pool::staging_store& store, pool::staged_file staged, archive::cached_reader& reader,
                           const pending_locator& locate)
    : size_(staged.size()),
      bytes_(std::make_unique<held_bytes>(std::in_place_type<in_pool>, in_pool{&store, std::move(staged)})),
      reader_(reader),
      locate_(locate) {}

sealed_bytes::sealed_bytes(spill_file spilled, std::uint64_t size, archive::cached_reader& reader,
                           const pending_locator& locate)
    : size_(size),
      bytes_(std::make_unique<held_bytes>(std::in_place_type<on_disk>, on_disk{std::move(spilled)})),
      reader_(reader),
      locate_(locate) {}

bool sealed_bytes::released() const {
  std::shared_lock lock(mutex_);
  return bytes_ == nullptr;
}

void sealed_bytes::release() {
  std::unique_ptr<held_bytes> released;
  std::unique_lock lock(mutex_);
  released = std::move(bytes_);
  lock.unlock();  // the pool memory is given back without holding up readers
}

sealed_bytes::taken_bytes sealed_bytes::take_back() {
  std::unique_lock lock(mutex_);
  taken_bytes taken;
  if (auto* pooled = bytes_ ? std::get_if<in_pool>(bytes_.get()) : nullptr) {
    taken.emplace<pool::staged_file>(std::move(pooled->file));
  } else if (auto* disk = bytes_ ? std::get_if<on_disk>(bytes_.get()) : nullptr) {
    taken.emplace<spill_file>(std::move(disk->file));
  }
  bytes_.reset();
  return taken;
}

result<std::size_t> sealed_bytes::read(std::uint64_t offset, std::span<std::byte> out) const {
  if (offset >= size_) return std::size_t{0};
  out = out.first(static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size_ - offset)));
  {
    std::shared_lock lock(mutex_);
    const held_bytes* held = bytes_.get();
    if (const auto* pooled = held ? std::get_if<in_pool>(held) : nullptr) {
      return pooled->store->read(pooled->file, offset, out);
    }
    if (const auto* disk = held ? std::get_if<on_disk>(held) : nullptr) {
      if (const int error = disk->file.read(offset, out); error != 0) {
        return failure(error, fmt::format("cannot read the spill file: {}", std::strerror(error)));
      }
      return out.size();
    }
  }
  // Released: the compressed copy is in a pending file (or, while a commit
  // applies, in the archive's new state), which lives while it is read.
  const auto where = locate_(id());
  if (!where) return failure(EIO, "the compressed copy of this file cannot be found");
  return read_archived(reader_, *where, offset, out);
}

void sealed_bytes::visit(const archive::span_sink& sink) const { visit_range(0, size_, sink); }

void sealed_bytes::visit_range(std::uint64_t offset, std::uint64_t size, const archive::span_sink& sink) const {
  const std::uint64_t end = std::min(size_, offset + std::min(size, size_));
  {
    std::shared_lock lock(mutex_);
    const held_bytes* held = bytes_.get();
    if (const auto* pooled = held ? std::get_if<in_pool>(held) : nullptr) {
      // Spans are walked, not copied: skipping to `offset` costs a pointer per chunk.
      std::uint64_t position = 0;
      pooled->store->for_each_span(pooled->file, [&](std::span<const std::byte> bytes) {
        const std::uint64_t from = std::max(position, offset);
        const std::uint64_t to = std::min(position + bytes.size(), end);
        if (from < to) {
          sink(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()) + (from - position),
                         static_cast<std::size_t>(to - from)));
        }
        position += bytes.size();
      });
      return;
    }
    if (const auto* disk = held ? std::get_if<on_disk>(held) : nullptr) {
      spill_content(disk->file, size_, "").visit_range(offset, size, sink);
      return;
    }
  }
  std::vector<std::byte> buffer(
      static_cast<std::size_t>(std::min<std::uint64_t>(end - std::min(offset, end), 1 << 20)));
  for (std::uint64_t at = offset; at < end;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), end - at));
    auto got = read(at, std::span(buffer.data(), n));
    if (!got) throw archive::archive_error(archive::error_kind::io, "", got.error().message, got.error().code);
    if (*got == 0) throw archive::archive_error(archive::error_kind::io, "", "the compressed copy is short", EIO);
    sink(std::span(reinterpret_cast<const std::uint8_t*>(buffer.data()), *got));
    at += *got;
  }
}

}  // namespace sevenzfs::fs
