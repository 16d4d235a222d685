#pragma once
// What a commit is asked to do and what it reports: the hand-off between the
// daemon's tree and the archive_appender.
#include "archive_database.hpp"
#include "entry.hpp"
#include "lzma_settings.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace sevenzfs::archive {

// An archived stream the next state keeps. A commit names every archived
// file that stays, and most are shown as archived: those carry no entry (an
// inline one costs 88 bytes, and a commit of an archive of a million files
// would hold a million of them twice while it makes the request).
struct kept_stream {
  std::uint64_t stream = 0;  // its index in the archive as it is now
  // Path, kind, mode, time as the caller shows it now; null: as archived.
  std::shared_ptr<const entry> shown;
};

// A folder compressed before the commit (pending_folders): its packed bytes
// lie at [offset, offset + size) of the file open as `fd`, and are copied
// into the archive as they are. What describes the folder is viewed, not
// copied (a commit of a million one-file folders would hold it twice):
// `path`, `folder`, `sizes` and `crcs` must outlive the commit, as the fd.
struct prepacked_folder {
  int fd = -1;            // kept open by the caller until the commit returns
  std::string_view path;  // names that file in errors
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  const folder_info* folder = nullptr;
  std::span<const std::uint64_t> sizes;                // its substreams
  std::span<const std::optional<std::uint32_t>> crcs;  // all defined
  // How each substream is shown (path, kind, mode, time; content unused),
  // or nullopt: dropped (deleted or rewritten since it was compressed). A
  // folder that loses every file is not copied; one that loses some has its
  // other files decoded and compressed again.
  std::vector<std::optional<entry>> files;

  bool keeps_all() const noexcept {
    return std::ranges::all_of(files, [](const auto& file) { return file.has_value(); });
  }
  bool keeps_none() const noexcept {
    return std::ranges::none_of(files, [](const auto& file) { return file.has_value(); });
  }
};

// A file of new_files that grew by appends only since the archive got
// archived stream `stream` of it: its first bytes are that stream's. Its
// folder may then go on from that stream's folder (folder_continuation.hpp)
// instead of compressing the file again from the start; the commit checks
// the prefix by CRC and compresses the whole file when it differs.
struct appended_file {
  std::size_t new_file = 0;  // index into new_files
  std::uint64_t stream = 0;  // in the archive as it is now
};

struct commit_request {
  // Ascending by stream. Every archived stream not listed is dropped: gone
  // from the archive's listing after the commit (see commit_result::kept_anyway).
  std::vector<kept_stream> kept_streams;
  // Directories and empty files: the whole current list (they have no data,
  // so every commit writes them anew).
  std::vector<entry> entries_without_data;
  // Files whose content goes into new folders.
  std::vector<entry> new_files;
  // Leave no dead bytes: write the archive anew if it has any or the commit
  // would make some.
  bool compact = false;
  // Folders compressed already; they go before new_files' folders.
  std::vector<prepacked_folder> prepacked_folders{};
  // Files of new_files that grew from archived streams, at most one entry each.
  std::vector<appended_file> appended_files{};
  // quick: a later commit will replace this one's header (see
  // lzma2_header_options); a mount's last commit asks for the best.
  header_effort header = header_effort::best;
};

// Lets go of everything the request holds per file (paths, kinds, times,
// contents, prepacked folders) once the new database describes the files:
// a commit of a million files would otherwise hold every path twice while
// it writes the header. Swapped with empty vectors, as `= {}` would keep the
// capacity.
inline void release_descriptions(commit_request& request) noexcept {
  std::vector<kept_stream>().swap(request.kept_streams);
  std::vector<entry>().swap(request.entries_without_data);
  std::vector<entry>().swap(request.new_files);
  std::vector<prepacked_folder>().swap(request.prepacked_folders);
  std::vector<appended_file>().swap(request.appended_files);
}

struct commit_result {
  std::vector<std::uint64_t> stream_index;  // for each of request.new_files: its substream now
  std::vector<std::uint64_t> kept_index;    // for each of request.kept_streams: its substream now
  // For each file of request.prepacked_folders, folder after folder: its
  // substream now (UINT64_MAX: dropped).
  std::vector<std::uint64_t> prepacked_index;
  // Dropped streams that are still archived, under their old description,
  // because their folder cannot be decoded here (a method such as PPMd, or
  // damaged data) and so cannot lose files: their index before the commit,
  // ascending, and their substream now. The commit does not fail for them.
  std::vector<std::uint64_t> kept_anyway;
  std::vector<std::uint64_t> kept_anyway_index;
  std::uint64_t input_bytes = 0;      // content bytes of request.new_files and prepacked_folders
  std::uint64_t reencoded_bytes = 0;  // kept content compressed again (folders that lost files)
  std::uint64_t copied_bytes = 0;     // packed bytes of kept folders copied into a rewritten archive
  // Of input_bytes: archived prefixes of request.appended_files whose folders
  // were continued (their packed bytes kept where they lie, or copied; not
  // compressed again).
  std::uint64_t continued_bytes = 0;
  // Of request.appended_files whose folders could be continued: those that
  // did not start with their archived stream (compressed whole). Whoever
  // named them as grown was wrong. (Others are not checked.)
  std::uint64_t mismatched_prefixes = 0;
  bool rewritten = false;  // the archive was written anew (temporary file, rename)
};

}  // namespace sevenzfs::archive
