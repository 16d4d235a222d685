#include "archive_snapshot.hpp"

#include "archive_error.hpp"
#include "archive_reader.hpp"
#include "coder_methods.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

namespace sevenzfs::archive {

namespace {

constexpr std::uint64_t kStartHeaderBytes = 32;
constexpr int kOpenAttempts = 3;

std::uint64_t next_snapshot_id() noexcept {
  // Process-wide on purpose: cached blocks of two snapshots must never share a key.
  static std::atomic<std::uint64_t> counter{0};
  return ++counter;
}

struct stat stat_of(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_io_error(path, "cannot stat archive", errno);
  return st;
}

}  // namespace

std::shared_ptr<const archive_snapshot> archive_snapshot::open(const std::string& path) {
  // read_archive opens the file by name; the snapshot must describe the file
  // its own descriptor holds, so both must be the same inode (a rename in
  // between is retried).
  for (int attempt = 0; attempt < kOpenAttempts; ++attempt) {
    unique_fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!file) throw_io_error(path, "cannot open archive", errno);
    auto layout = read_archive(path);
    const struct stat held = stat_of(file.get(), path);
    struct stat named {};
    if (::stat(path.c_str(), &named) != 0) throw_io_error(path, "cannot stat archive", errno);
    if (held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
      return from(std::move(file), path, std::move(layout.db));
    }
  }
  throw archive_error(error_kind::io, path, "the archive keeps being replaced while it is opened", EAGAIN);
}

std::shared_ptr<const archive_snapshot> archive_snapshot::from(unique_fd file, std::string path, archive_database&& db,
                                                               const archive_snapshot* same_data_as) {
  return std::make_shared<const archive_snapshot>(private_tag{}, std::move(file), std::move(path), std::move(db),
                                                  same_data_as);
}

archive_snapshot::archive_snapshot(private_tag, unique_fd file, std::string path, archive_database&& db,
                                   const archive_snapshot* same_data_as)
    : id_(next_snapshot_id()),
      data_identity_(same_data_as != nullptr ? same_data_as->data_identity_ : id_),
      file_(std::move(file)),
      path_(std::move(path)),
      damage_(same_data_as != nullptr ? same_data_as->damage_ : std::make_shared<damage_book>()) {
  if (!file_) throw archive_error(error_kind::invalid_input, path_, "no descriptor for the archive");
  lay_out(db, static_cast<std::uint64_t>(stat_of(file_.get(), path_).st_size));
  db_ = std::move(db);  // last: nothing throws after it
}

void archive_snapshot::lay_out(const archive_database& db, std::uint64_t file_size) {
  const auto corrupt = [&](const std::string& what) {
    throw archive_error(error_kind::corrupt_archive, path_, fmt::format("inconsistent archive database: {}", what));
  };
  const auto& folders = db.folders;
  if (db.substream_counts.size() != folders.size()) corrupt("substream counts do not match the folders");
  if (db.substream_crcs.size() != db.substream_sizes.size()) corrupt("substream CRCs do not match the sizes");
  // Pack streams lie back to back from the pack position; all inside the file.
  std::uint64_t offset = kStartHeaderBytes + db.pack_position;
  if (offset < db.pack_position) corrupt("pack position out of range");
  std::size_t pack = 0;
  std::uint64_t substream = 0;
  folders_.reserve(folders.size());
  // Sized first: grown by doubling, it would keep up to twice the storage it
  // needs (24 bytes a file), and hold the old copy beside the new as it grows.
  substreams_.reserve(db.substream_sizes.size());
  for (std::size_t f = 0; f < folders.size(); ++f) {
    folder_layout layout;
    for (std::size_t k = 0; k < folders[f].packed_streams().size(); ++k, ++pack) {
      if (pack >= db.pack_sizes.size()) corrupt("the folders use more pack streams than are listed");
      const auto size = db.pack_sizes[pack];
      if (offset > file_size || size > file_size - offset) corrupt("packed data beyond the end of the file");
      layout.packs.push_back({offset, size});
      offset += size;
    }
    layout.first_substream = substream;
    layout.substream_count = db.substream_counts[f];
    if (layout.substream_count > db.substream_sizes.size() - substream) corrupt("too few substream sizes");
    std::uint64_t within = 0;
    const std::uint64_t folder_size = folders[f].unpack_size();
    for (std::uint64_t k = 0; k < layout.substream_count; ++k, ++substream) {
      const auto size = db.substream_sizes[substream];
      if (size > folder_size - within) corrupt("substreams larger than their folder");
      substreams_.push_back({f, within, size});
      within += size;
    }
    folders_.push_back(std::move(layout));
  }
  if (pack != db.pack_sizes.size()) corrupt("pack streams no folder uses");
  if (substream != db.substream_sizes.size()) corrupt("substreams no folder holds");
  verdicts_ = std::vector<std::atomic<std::uint8_t>>(substreams_.size());
  if (db.files.empty()) return;
  file_of_substream_.reserve(substreams_.size());
  for (std::size_t i = 0; i < db.files.size(); ++i) {
    if (db.files[i].has_stream) file_of_substream_.push_back(i);
  }
  if (file_of_substream_.size() != substreams_.size()) corrupt("files with data do not match the substreams");
}

std::optional<std::size_t> archive_snapshot::file_of_substream(std::uint64_t substream) const {
  if (substream >= file_of_substream_.size()) return std::nullopt;
  return file_of_substream_[substream];
}

std::optional<std::uint64_t> archive_snapshot::substream_of_file(std::size_t file) const {
  const auto found = std::lower_bound(file_of_substream_.begin(), file_of_substream_.end(), file);
  if (found == file_of_substream_.end() || *found != file) return std::nullopt;
  return static_cast<std::uint64_t>(found - file_of_substream_.begin());
}

std::string archive_snapshot::substream_name(std::uint64_t substream) const {
  if (const auto file = file_of_substream(substream)) return db_.files[*file].name;
  return fmt::format("stream {}", substream);
}

std::optional<std::string> archive_snapshot::unsupported_method(std::uint64_t substream) const {
  return archive::unsupported_method(db_.folders[this->substream(substream).folder]);
}

std::pair<std::uint64_t, std::uint64_t> archive_snapshot::place_of(std::uint64_t substream) const {
  const auto& location = substreams_[substream];
  return {folder_key(location.folder), location.offset};
}

archive_snapshot::crc_verdict archive_snapshot::verdict(std::uint64_t substream) const noexcept {
  if (substream >= verdicts_.size()) return crc_verdict::unchecked;
  const auto known = static_cast<crc_verdict>(verdicts_[substream].load(std::memory_order_acquire));
  if (known == crc_verdict::bad || !damage_->any.load(std::memory_order_acquire)) return known;
  std::lock_guard lock(damage_->mutex);
  return damage_->damaged.contains(place_of(substream)) ? crc_verdict::bad : known;
}

void archive_snapshot::record_verdict(std::uint64_t substream, bool good) const noexcept {
  if (substream >= verdicts_.size()) return;
  if (!good) {
    std::lock_guard lock(damage_->mutex);
    damage_->damaged.insert(place_of(substream));
    damage_->any.store(true, std::memory_order_release);
  }
  verdicts_[substream].store(static_cast<std::uint8_t>(good ? crc_verdict::good : crc_verdict::bad),
                             std::memory_order_release);
}

}  // namespace sevenzfs::archive
