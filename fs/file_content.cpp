#include "file_content.hpp"

#include "staged_content.hpp"

#include "archive/archive_error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace sevenzfs::fs {

namespace {

template <typename... Cases>
struct overloaded : Cases... {
  using Cases::operator()...;
};

}  // namespace

void file_content::set_archived(std::uint64_t stream, std::uint64_t size) {
  local_.emplace<nothing>();
  stream_ = stream;
  archived_size_ = size;
  dirty_ = false;
}

void file_content::hold(std::string bytes) {
  local_.emplace<held>(held{std::move(bytes)});
  dirty_ = true;
}

std::uint64_t file_content::size() const noexcept {
  return std::visit(overloaded{[&](const nothing&) { return dirty_ ? std::uint64_t{0} : archived_size_; },
                               [](const in_pool& p) { return p.file.size(); }, [](const on_disk& d) { return d.size; },
                               [](const held& h) { return std::uint64_t{h.bytes.size()}; }},
                    local_);
}

std::uint64_t file_content::staged_bytes() const noexcept {
  const auto* pooled = std::get_if<in_pool>(&local_);
  return pooled == nullptr ? 0 : pooled->file.size();
}

bool file_content::only_archived() const noexcept {
  return std::holds_alternative<nothing>(local_) && !dirty_ && stream_.has_value() && archived_size_ > 0;
}

result<std::size_t> file_content::read(const content_services& services, std::uint64_t offset,
                                       std::span<std::byte> out) const {
  const std::uint64_t total = size();
  if (offset >= total) return std::size_t{0};
  out = out.first(static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), total - offset)));
  return std::visit(
      overloaded{[&](const nothing&) -> result<std::size_t> {
                   return failure(EOPNOTSUPP, "reading content that is already in the archive is not supported yet");
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
                 }},
      local_);
}

file_content::in_pool* file_content::ensure_writable(content_services& services) {
  if (std::holds_alternative<nothing>(local_)) local_.emplace<in_pool>(in_pool{pool::staged_file(services.store)});
  return std::get_if<in_pool>(&local_);
}

result<std::size_t> file_content::write(content_services& services, std::uint64_t offset,
                                        std::span<const std::byte> data) {
  if (only_archived()) return failure(EPERM, "cannot change archived content in place yet");
  if (auto* disk = std::get_if<on_disk>(&local_)) {
    if (const int error = disk->file.write(offset, data); error != 0) {
      return failure(error, fmt::format("cannot write the spill file: {}", std::strerror(error)));
    }
    disk->size = std::max(disk->size, offset + data.size());
    dirty_ = true;
    return data.size();
  }
  in_pool* pooled = ensure_writable(services);
  if (pooled == nullptr) return failure(EINVAL);  // a symlink's target is never written
  const std::size_t written =
      services.store.write(pooled->file, offset, data, pool::staging_store::memory_wait::fail_fast);
  if (written > 0 || data.empty()) dirty_ = true;
  return written;
}

result<void> file_content::truncate(content_services& services, std::uint64_t new_size) {
  if (only_archived() && new_size != 0)
    return failure(EPERM, "cannot truncate archived content to a non-zero size yet");
  if (auto* disk = std::get_if<on_disk>(&local_)) {
    if (const int error = disk->file.truncate(new_size); error != 0) {
      return failure(error, fmt::format("cannot truncate the spill file: {}", std::strerror(error)));
    }
    disk->size = new_size;
  } else if (std::holds_alternative<held>(local_)) {
    return failure(EINVAL);
  } else {
    services.store.truncate(ensure_writable(services)->file, new_size);
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

std::shared_ptr<const archive::entry_content> file_content::commit_source(const content_services& services,
                                                                          const std::string& path) const {
  return std::visit(overloaded{[](const nothing&) -> std::shared_ptr<const archive::entry_content> { return nullptr; },
                               [&](const in_pool& p) -> std::shared_ptr<const archive::entry_content> {
                                 return std::make_shared<staged_content>(services.store, p.file);
                               },
                               [&](const on_disk& d) -> std::shared_ptr<const archive::entry_content> {
                                 return std::make_shared<spill_content>(d.file, d.size, path);
                               },
                               [](const held& h) -> std::shared_ptr<const archive::entry_content> {
                                 return std::make_shared<archive::memory_content>(h.bytes);
                               }},
                    local_);
}

void file_content::committed(std::optional<std::uint64_t> stream, bool keep_local) {
  archived_size_ = stream ? size() : 0;
  stream_ = stream;
  dirty_ = false;
  // A symlink's target is a few bytes: keep it rather than read it back.
  if (!keep_local && !std::holds_alternative<held>(local_)) local_.emplace<nothing>();
}

}  // namespace sevenzfs::fs
