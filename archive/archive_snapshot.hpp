#pragma once
// One state of an archive, immutable and shared: its own read-only
// descriptor (so it stays valid while the file is appended to or replaced by
// rename), the database, where every folder's pack streams lie, and where
// every substream (file content) lies in its folder. The daemon holds a
// shared_ptr<const archive_snapshot> per archived file, with the file's
// substream index, and reads through a cached_reader.
//
// The one thing that changes is what reading has learned: CRC verdicts per
// substream, recorded atomically so that a file found damaged once is
// reported on every later read, by every reader — also through later
// snapshots of the same data (damage is noted by where it lies).
#include "archive_database.hpp"
#include "file_io.hpp"
#include "folder_decoder.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <optional>
#include <string>
#include <vector>

namespace sevenzfs::archive {

class archive_snapshot : public std::enable_shared_from_this<archive_snapshot> {
  struct private_tag {};

 public:
  struct folder_layout {
    // In the folder's packed_streams order. Inline: every folder this
    // writer makes has one, and a snapshot of a million one-file folders
    // would hold a heap block each.
    struct pack_ranges : small_vector<pack_stream_range, 1> {
      // Boost 1.74's small_vector does not convert to a span by itself.
      operator std::span<const pack_stream_range>() const noexcept { return {data(), size()}; }
    };
    pack_ranges packs;
    std::uint64_t first_substream = 0;
    std::uint64_t substream_count = 0;
  };

  struct substream_location {
    std::size_t folder = 0;
    std::uint64_t offset = 0;  // within the folder's content
    std::uint64_t size = 0;
  };

  enum class crc_verdict : std::uint8_t { unchecked, good, bad };

  // Opens `path` read-only and reads its database (read_archive).
  static std::shared_ptr<const archive_snapshot> open(const std::string& path);
  // A state the caller describes, e.g. the daemon's pending folders: `db`
  // refers to packed data in `file` (a pending folder's unpack size is what
  // has been flushed so far). `path` names the archive in errors. The
  // database is checked for consistency: corrupt_archive if it is not.
  // `same_data_as`: an earlier snapshot of the same file whose folders keep
  // their bytes and positions in this one (an in-place commit appends and
  // never moves a pack): cached data and positioned decoders carry over.
  // `db` is moved from only when the snapshot is made: when this throws,
  // the caller still has it (the appender's only copy of a database).
  static std::shared_ptr<const archive_snapshot> from(unique_fd file, std::string path, archive_database&& db,
                                                      const archive_snapshot* same_data_as = nullptr);

  archive_snapshot(private_tag, unique_fd file, std::string path, archive_database&& db,
                   const archive_snapshot* same_data_as);
  archive_snapshot(const archive_snapshot&) = delete;
  archive_snapshot& operator=(const archive_snapshot&) = delete;

  // Unique among all snapshots of this process.
  std::uint64_t id() const noexcept { return id_; }
  // Shared by snapshots whose folders lie at the same places with the same
  // bytes: with folder_key, the key of cached data.
  std::uint64_t data_identity() const noexcept { return data_identity_; }
  // Where folder `index` lies (its first pack stream's offset): the same in
  // every snapshot with this data identity.
  std::uint64_t folder_key(std::size_t index) const { return folder(index).packs.front().offset; }
  int fd() const noexcept { return file_.get(); }
  const std::string& path() const noexcept { return path_; }
  const archive_database& database() const noexcept { return db_; }

  std::size_t folder_count() const noexcept { return folders_.size(); }
  const folder_layout& folder(std::size_t index) const { return folders_.at(index); }
  std::uint64_t substream_count() const noexcept { return substreams_.size(); }
  const substream_location& substream(std::uint64_t index) const { return substreams_.at(index); }

  // database().files index of the file stored as `substream`, when known.
  std::optional<std::size_t> file_of_substream(std::uint64_t substream) const;
  // The substream holding the content of database().files[file], if it has one.
  std::optional<std::uint64_t> substream_of_file(std::size_t file) const;
  // The file's name, or "stream N" when the database lists no files.
  std::string substream_name(std::uint64_t substream) const;
  // The method that keeps `substream` from being read, if any.
  std::optional<std::string> unsupported_method(std::uint64_t substream) const;

  crc_verdict verdict(std::uint64_t substream) const noexcept;
  void record_verdict(std::uint64_t substream, bool good) const noexcept;

 private:
  void lay_out(const archive_database& db, std::uint64_t file_size);

  std::uint64_t id_;
  std::uint64_t data_identity_;
  unique_fd file_;
  std::string path_;
  archive_database db_;
  std::vector<folder_layout> folders_;
  std::vector<substream_location> substreams_;
  std::vector<std::size_t> file_of_substream_;  // empty when the database lists no files
  mutable std::vector<std::atomic<std::uint8_t>> verdicts_;
  // Damage found, by (folder key, offset in the folder), shared by the
  // snapshots of one data identity.
  struct damage_book {
    std::atomic<bool> any{false};
    std::mutex mutex;
    std::set<std::pair<std::uint64_t, std::uint64_t>> damaged;
  };
  std::shared_ptr<damage_book> damage_;
  std::pair<std::uint64_t, std::uint64_t> place_of(std::uint64_t substream) const;
};

}  // namespace sevenzfs::archive
