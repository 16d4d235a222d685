#include "file_content.hpp"

#include "staged_content.hpp"

#include "archive/archive_error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace sevenzfs::fs {

namespace {

template <typename... Cases>
struct overloaded : Cases... {
  using Cases::operator()...;
};

constexpr std::size_t kRestageChunk = 1 << 20;

}  // namespace

void file_content::set_archived(archived_bytes where) {
  local_.emplace<nothing>();
  prefix_ = 0;
  same_as_archived_ = where.size;
  archived_ = std::move(where);
  dirty_ = false;
  reported_ = false;
}

void file_content::hold(std::string bytes) {
  local_.emplace<held>(held{std::move(bytes)});
  prefix_ = 0;
  same_as_archived_ = 0;
  dirty_ = true;
}

std::uint64_t file_content::size() const noexcept {
  return std::visit(
      overloaded{[&](const nothing&) { return dirty_ || !archived_ ? std::uint64_t{0} : archived_->size; },
                 [&](const in_pool& p) { return prefix_ + p.file.size(); },
                 [&](const on_disk& d) { return prefix_ + d.size; },
                 [](const held& h) { return std::uint64_t{h.bytes.size()}; },
                 [&](const sealed_local& s) { return prefix_ + s.bytes->size(); }},
      local_);
}

std::optional<std::uint64_t> file_content::stream_in(const archive::archive_snapshot* snapshot) const noexcept {
  if (!archived_ || archived_->snapshot.get() != snapshot) return std::nullopt;
  return archived_->stream;
}

std::uint64_t file_content::staged_bytes() const noexcept {
  const auto* pooled = std::get_if<in_pool>(&local_);
  return pooled == nullptr ? 0 : pooled->file.size();
}

bool file_content::grew_from_archived() const noexcept {
  return dirty_ && archived_ && archived_->size > 0 && same_as_archived_ >= archived_->size && size() > archived_->size;
}

bool file_content::only_archived() const noexcept {
  return std::holds_alternative<nothing>(local_) && !dirty_ && archived_.has_value() && archived_->size > 0;
}

std::uint64_t file_content::archived_prefix() const noexcept { return only_archived() ? archived_->size : prefix_; }

result<void> file_content::replaceable() const {
  if (!archived_ || dirty_) return {};  // no archived copy, or one changed already
  if (auto why = undroppable(*archived_)) return failure(ENOTSUP, std::move(*why));
  return {};
}

result<std::size_t> file_content::read(const content_services& services, std::uint64_t offset,
                                       std::span<std::byte> out) const {
  const std::uint64_t total = size();
  if (offset >= total) return std::size_t{0};
  out = out.first(static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), total - offset)));
  if (offset >= prefix_) return read_local(services, offset - prefix_, out);
  // The archived start, then the local bytes: a read is only short at the end.
  const auto head = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), prefix_ - offset));
  auto archived = read_archived(services.reader, *archived_, offset, out.first(head));
  if (!archived || *archived < head || head == out.size()) return archived;
  auto rest = read_local(services, 0, out.subspan(head));
  if (!rest) return rest;
  return head + *rest;
}

// `offset` counts from the start of the local bytes.
result<std::size_t> file_content::read_local(const content_services& services, std::uint64_t offset,
                                             std::span<std::byte> out) const {
  return std::visit(
      overloaded{[&](const nothing&) -> result<std::size_t> {
                   return read_archived(services.reader, *archived_, offset, out);
                 },
                 [&](const in_pool& p) -> result<std::size_t> { return services.store.read(p.file, offset, out); },
                 [&](const on_disk& d) -> result<std::size_t> {
                   if (const int error = d.file.read(offset, out); error != 0) {
                     return failure(error, fmt::format("cannot read the spill file: {}", std::strerror(error)));
                   }
                   return out.size();
                 },
                 [&](const held& h) -> result<std::size_t> {
                   std::memcpy(out.data(), h.bytes.data() + offset, out.size());
                   return out.size();
                 },
                 [&](const sealed_local& s) -> result<std::size_t> { return s.bytes->read(offset, out); }},
      local_);
}

// Copies the archived (or sealed) bytes back into the pool, or into a spill
// file from where the pool has no room: the file can then change like any
// staged one.
result<void> file_content::restage(content_services& services, std::uint64_t from) {
  const std::uint64_t total = size() - from;
  pool::staged_file staged(services.store);
  std::optional<spill_file> spilled;
  std::vector<std::byte> buffer(static_cast<std::size_t>(std::min<std::uint64_t>(kRestageChunk, total)));
  for (std::uint64_t at = 0; at < total;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), total - at));
    auto read = this->read(services, from + at, std::span(buffer.data(), n));
    if (!read) return std::unexpected(read.error());
    if (*read != n) return failure(EIO, "the archive holds fewer bytes than its header says");
    std::span<const std::byte> chunk(buffer.data(), n);
    if (!spilled) {
      const auto written = services.store.write(staged, at, chunk, pool::staging_store::memory_wait::fail_fast);
      chunk = chunk.subspan(written);
      if (!chunk.empty()) {
        // The pool is full: this file goes to disk, with what is staged so far.
        spilled.emplace(services.spill_prefix);
        std::uint64_t offset = 0;
        int error = 0;
        services.store.for_each_span(staged, [&](std::span<const std::byte> bytes) {
          if (error == 0) error = spilled->write(offset, bytes);
          offset += bytes.size();
        });
        if (error != 0) return failure(error, fmt::format("cannot spill to disk: {}", std::strerror(error)));
        services.store.clear(staged);
      }
    }
    if (spilled && !chunk.empty()) {
      if (const int error = spilled->write(at + (n - chunk.size()), chunk); error != 0) {
        return failure(error, fmt::format("cannot spill to disk: {}", std::strerror(error)));
      }
    }
    at += n;
  }
  if (spilled)
    local_.emplace<on_disk>(on_disk{std::move(*spilled), total});
  else
    local_.emplace<in_pool>(in_pool{std::move(staged)});
  prefix_ = from;
  return {};
}

result<void> file_content::make_writable(content_services& services, std::uint64_t changed_from,
                                         std::uint64_t size_after) {
  if (std::holds_alternative<held>(local_)) return failure(EINVAL);  // a symlink's target is never written
  // The archived start stays only while the file grows past the archive's
  // copy without touching it: its commit then goes on from the archived
  // folder without decoding anything. Any other change re-stages the file
  // whole now, and a start that cannot be read fails this change alone.
  // While a commit runs, its copy will end where it froze the file: a change
  // below that is no append to the copy the next commit goes on from.
  const std::uint64_t archived_end = archived_ ? std::max(archived_->size, frozen_end_) : 0;
  const bool appends = archived_ && changed_from >= archived_end && size_after > archived_end;
  const bool keeps_prefix = prefix_ == 0 || appends;
  if (std::holds_alternative<sealed_local>(local_)) return restage(services, keeps_prefix ? prefix_ : 0);
  if (!std::holds_alternative<nothing>(local_)) return keeps_prefix ? result<void>{} : restage(services, 0);
  if (only_archived()) {
    if (!appends || !continuable(services.level, *archived_)) return restage(services, 0);
    // An append (a log after a remount): the archived start stays where it is.
    local_.emplace<in_pool>(in_pool{pool::staged_file(services.store)});
    prefix_ = archived_->size;
    return {};
  }
  local_.emplace<in_pool>(in_pool{pool::staged_file(services.store)});
  return {};
}

result<std::size_t> file_content::write(content_services& services, std::uint64_t offset,
                                        std::span<const std::byte> data) {
  if (auto kept = replaceable(); !kept) return std::unexpected(kept.error());
  const std::uint64_t size_before = size();
  if (auto writable =
          make_writable(services, std::min(offset, size_before), std::max(size_before, offset + data.size()));
      !writable) {
    return std::unexpected(writable.error());
  }
  same_as_archived_ = std::min(same_as_archived_, offset);
  changed_from_since_freeze_ = std::min(changed_from_since_freeze_, offset);
  const std::uint64_t local_offset = offset - prefix_;
  if (auto* disk = std::get_if<on_disk>(&local_)) {
    if (const int error = disk->file.write(local_offset, data); error != 0) {
      return failure(error, fmt::format("cannot write the spill file: {}", std::strerror(error)));
    }
    disk->size = std::max(disk->size, local_offset + data.size());
    dirty_ = true;
    return data.size();
  }
  auto& pooled = std::get<in_pool>(local_);
  const std::size_t written =
      services.store.write(pooled.file, local_offset, data, pool::staging_store::memory_wait::fail_fast);
  if (written > 0 || data.empty()) dirty_ = true;
  return written;
}

result<void> file_content::truncate(content_services& services, std::uint64_t new_size) {
  if (auto kept = replaceable(); !kept) return kept;
  if (new_size == 0 &&
      (std::holds_alternative<nothing>(local_) || std::holds_alternative<sealed_local>(local_) || prefix_ > 0)) {
    local_.emplace<in_pool>(in_pool{pool::staged_file(services.store)});  // nothing to copy back
    prefix_ = 0;
  } else if (auto writable = make_writable(services, std::min(new_size, size()), new_size); !writable) {
    return std::unexpected(writable.error());
  }
  same_as_archived_ = std::min(same_as_archived_, new_size);
  changed_from_since_freeze_ = std::min(changed_from_since_freeze_, new_size);
  if (auto* disk = std::get_if<on_disk>(&local_)) {
    if (const int error = disk->file.truncate(new_size - prefix_); error != 0) {
      return failure(error, fmt::format("cannot truncate the spill file: {}", std::strerror(error)));
    }
    disk->size = new_size - prefix_;
  } else {
    services.store.truncate(std::get<in_pool>(local_).file, new_size - prefix_);
  }
  dirty_ = true;
  return {};
}

void file_content::spill(content_services& services) {
  auto* pooled = std::get_if<in_pool>(&local_);
  if (pooled == nullptr) return;
  spill_file file(services.spill_prefix);
  std::uint64_t offset = 0;
  int error = 0;
  services.store.for_each_span(pooled->file, [&](std::span<const std::byte> bytes) {
    if (error == 0) error = file.write(offset, bytes);
    offset += bytes.size();
  });
  if (error != 0) archive::throw_io_error(services.spill_prefix, "cannot spill to disk", error);
  const std::uint64_t spilled_size = pooled->file.size();
  local_.emplace<on_disk>(on_disk{std::move(file), spilled_size});
}

std::shared_ptr<const archive::entry_content> file_content::after_prefix(
    const content_services& services, std::shared_ptr<const archive::entry_content> local) const {
  if (prefix_ == 0) return local;
  return std::make_shared<appended_content>(services.reader, *archived_, prefix_, std::move(local),
                                            grew_from_archived() ? archived_->size : 0);
}

std::shared_ptr<const archive::entry_content> file_content::commit_source(const content_services& services,
                                                                          const std::string& path) const {
  auto local = std::visit(
      overloaded{[](const nothing&) -> std::shared_ptr<const archive::entry_content> { return nullptr; },
                 [&](const in_pool& p) -> std::shared_ptr<const archive::entry_content> {
                   return std::make_shared<staged_content>(services.store, p.file);
                 },
                 [&](const on_disk& d) -> std::shared_ptr<const archive::entry_content> {
                   return std::make_shared<spill_content>(d.file, d.size, path);
                 },
                 [](const held& h) -> std::shared_ptr<const archive::entry_content> {
                   return std::make_shared<archive::memory_content>(h.bytes);
                 },
                 [](const sealed_local& s) -> std::shared_ptr<const archive::entry_content> { return s.bytes; }},
      local_);
  return after_prefix(services, std::move(local));
}

std::shared_ptr<const archive::entry_content> file_content::freeze_for_commit(const content_services& services,
                                                                              const std::string& path) {
  // Never staged_content or spill_content for these: they read the file's
  // bytes in place, which a writer may change once the commit lets go.
  changed_from_since_freeze_ = UINT64_MAX;
  frozen_end_ = prefix_ > 0 ? size() : 0;
  if (std::holds_alternative<in_pool>(local_) || std::holds_alternative<on_disk>(local_)) {
    auto frozen = seal_local(services);
    std::get<sealed_local>(local_).for_commit = true;
    return after_prefix(services, std::move(frozen));
  }
  return commit_source(services, path);
}

bool file_content::frozen() const noexcept {
  const auto* s = std::get_if<sealed_local>(&local_);
  return s != nullptr && s->for_commit;
}

void file_content::thaw() {
  frozen_end_ = 0;
  auto* sealed = std::get_if<sealed_local>(&local_);
  if (sealed == nullptr || !sealed->for_commit) return;
  const std::uint64_t total = sealed->bytes->size();
  auto taken = sealed->bytes->take_back();
  if (auto* staged = std::get_if<pool::staged_file>(&taken)) {
    local_.emplace<in_pool>(in_pool{std::move(*staged)});
  } else if (auto* spilled = std::get_if<spill_file>(&taken)) {
    local_.emplace<on_disk>(on_disk{std::move(*spilled), total});
  }
}

std::shared_ptr<sealed_bytes> file_content::seal(const content_services& services) {
  // The streamer compresses whole files: one that begins with archived bytes
  // is left to the commit, which goes on from its archived folder.
  if (!dirty_ || size() == 0 || prefix_ > 0) return nullptr;
  auto bytes = seal_local(services);
  if (bytes && seals_since_commit_ < UINT8_MAX) ++seals_since_commit_;
  return bytes;
}

std::shared_ptr<sealed_bytes> file_content::seal_local(const content_services& services) {
  std::shared_ptr<sealed_bytes> bytes;
  if (auto* pooled = std::get_if<in_pool>(&local_)) {
    bytes = std::make_shared<sealed_bytes>(services.store, std::move(pooled->file), services.reader,
                                           services.locate_pending);
  } else if (auto* disk = std::get_if<on_disk>(&local_)) {
    bytes = std::make_shared<sealed_bytes>(std::move(disk->file), disk->size, services.reader,
                                           services.locate_pending);
  } else {
    return nullptr;
  }
  local_.emplace<sealed_local>(sealed_local{bytes});
  return bytes;
}

const sealed_bytes* file_content::sealed() const noexcept {
  const auto* s = std::get_if<sealed_local>(&local_);
  return s == nullptr ? nullptr : s->bytes.get();
}

result<void> file_content::unseal(content_services& services) {
  if (!std::holds_alternative<sealed_local>(local_)) return {};
  return restage(services, prefix_);
}

void file_content::committed_then_appended(archived_bytes where) {
  seals_since_commit_ = 0;
  if (changed_from_since_freeze_ < where.size) return;
  same_as_archived_ = where.size;
  archived_ = std::move(where);
}

void file_content::committed_beside_streamer(archived_bytes where) {
  seals_since_commit_ = 0;
  same_as_archived_ = where.size;
  archived_ = std::move(where);
  archived_sealed_id_ = sealed() != nullptr ? sealed()->id() : 0;
}

bool file_content::archived_as_sealed() const noexcept {
  const sealed_bytes* bytes = sealed();
  return archived_ && bytes != nullptr && bytes->id() != 0 && bytes->id() == archived_sealed_id_;
}

void file_content::trim_committed(content_services& services) {
  const std::uint64_t primer = primer_bytes_at(services.level);
  if (dirty_ || !archived_ || primer == 0) return;
  if (!std::holds_alternative<in_pool>(local_) && !std::holds_alternative<on_disk>(local_)) return;
  // Trimmed once the bytes kept are twice what a primer needs: a copy of a
  // dictionary's worth of bytes per dictionary appended.
  if (archived_->size - prefix_ < 2 * primer) return;
  if (!continuable(services.level, *archived_)) return;
  // What cannot be copied now (a full disk under the spill file) stays as it is.
  (void)restage(services, archived_->size - primer);
}

void file_content::committed(std::optional<archived_bytes> where, bool keep_local) {
  if (keep_local) thaw();
  same_as_archived_ = where ? where->size : 0;
  archived_ = std::move(where);
  dirty_ = false;
  reported_ = false;
  seals_since_commit_ = 0;
  // A symlink's target is a few bytes: keep it rather than read it back.
  // Bytes handed to the streamer (left sealed after thaw) go even when
  // local bytes are kept: the file would read as being compressed, and no
  // later commit would take it.
  if ((!keep_local || std::holds_alternative<sealed_local>(local_)) && !std::holds_alternative<held>(local_)) {
    local_.emplace<nothing>();
    prefix_ = 0;
  }
}

}  // namespace sevenzfs::fs
