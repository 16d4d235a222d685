#pragma once
// What a commit does with each folder of the archive as it is, and the
// database of the state it leads to, built folder by folder in the order
// their packed bytes lie in the new file.
#include "archive_database.hpp"
#include "commit_request.hpp"

#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <vector>

namespace sevenzfs::archive {

enum class folder_fate : std::uint8_t {
  kept,       // every file stays (or the folder cannot lose files): its packed bytes stay as they are
  dead,       // no file stays: nothing will reference its packed bytes
  reencoded,  // some files stay: they are decoded and compressed again into a new folder
};

struct commit_plan {
  static constexpr std::size_t kDropped = std::numeric_limits<std::size_t>::max();

  std::vector<folder_fate> fates;              // per folder of the archive as it is
  std::vector<std::size_t> request_of_stream;  // per stream: its index in request.kept_streams, or kDropped
  std::vector<std::uint64_t> first_stream;     // per folder: its first stream
  std::vector<std::uint64_t> kept_anyway;      // dropped streams of folders that cannot lose files

  std::size_t count(folder_fate fate) const noexcept;
  // The folders before the first that is not kept.
  std::size_t kept_prefix() const noexcept;
  bool stream_kept(std::uint64_t stream) const { return request_of_stream.at(stream) != kDropped; }
};

// `undecodable(folder)`: the folder's method cannot be decoded here, so the
// folder cannot lose files (it stays whole; its dropped streams are kept_anyway).
commit_plan plan_commit(const archive_database& db, const commit_request& request,
                        const std::function<bool(std::size_t)>& undecodable);

// Where a stream of the new state comes from.
struct stream_origin {
  bool archived = false;  // an archived stream (index: its stream now) or a new file (index: in request.new_files)
  std::uint64_t index = 0;
  bool prepacked = false;  // a file of request.prepacked_folders (index: counted over all of them, in order)
};

class database_builder {
 public:
  // `old` and `request` must outlive the builder.
  database_builder(const archive_database& old, const commit_request& request, const commit_plan& plan);

  // Archived folder `folder`, whole: its pack streams are the next ones.
  void add_archived_folder(std::size_t folder);
  // The folders a folder_packer recorded in `part` (their pack streams are
  // the next ones); part's k-th stream holds origins[k]. part.files is not
  // used: files are described from the request and the old header.
  void add_packed(const archive_database& part, std::span<const stream_origin> origins);
  // request.prepacked_folders[index], which drops none of its files: its
  // pack stream is the next one.
  void add_prepacked(std::size_t index);
  // Where the files of request.prepacked_folders[index] are counted from in
  // stream_origin::index.
  std::uint64_t first_prepacked_file(std::size_t index) const { return first_prepacked_.at(index); }

  // The new database (request.entries_without_data follow the files with
  // data) with `pack_position`; sets result's stream_index, kept_index,
  // prepacked_index and kept_anyway_index (result.kept_anyway must be complete).
  archive_database finish(std::uint64_t pack_position, commit_result& result) &&;

  // How an archived stream is described in the new state.
  file_info describe_archived(std::uint64_t stream) const;

 private:
  static constexpr std::uint64_t kAbsent = std::numeric_limits<std::uint64_t>::max();

  const archive_database& old_;
  const commit_request& request_;
  const commit_plan& plan_;
  std::vector<std::size_t> first_pack_;          // per old folder
  std::vector<std::size_t> file_of_stream_;      // old.files index per old stream
  std::vector<std::uint64_t> now_of_archived_;   // per old stream: its index in the new state, or kAbsent
  std::vector<std::uint64_t> now_of_new_;        // per request.new_files: its index in the new state, or kAbsent
  std::vector<std::uint64_t> now_of_prepacked_;  // per file of request.prepacked_folders, in order, or kAbsent
  std::vector<std::uint64_t> first_prepacked_;   // per prepacked folder: its first file's index there
  file_info describe_prepacked(std::uint64_t file) const;
  archive_database db_;
};

}  // namespace sevenzfs::archive
