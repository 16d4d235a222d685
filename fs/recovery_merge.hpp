#pragma once
// A recovery archive read for its commit at mount (recovery.hpp), and the
// commit request that merges it into the archive.
#include "archive/archive_appender.hpp"
#include "archive/archive_snapshot.hpp"
#include "archive/cached_reader.hpp"
#include "archive/commit_request.hpp"
#include "archive/entry.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace sevenzfs::fs {

// A folder of the recovery archive copied into the archive as it is.
struct copied_folder {
  std::size_t index = 0;
  std::vector<std::optional<archive::entry>> files;  // by substream
};

// The recovery archive's entries: in folders copied as they are, or with
// content read from it (to be compressed again).
struct recovered {
  std::vector<archive::entry> without_data;
  std::vector<archive::entry> with_data;
  std::vector<copied_folder> copied;
  std::unordered_map<std::string, archive::entry_kind> kinds;  // by path
  std::unordered_set<std::string> parents;                     // directories its paths lie in
};

// Its entries, by folder. Throws archive_error (invalid_name: a path no
// mount can show, so not an archive of ours).
recovered read_recovery(const std::shared_ptr<const archive::archive_snapshot>& snapshot,
                        archive::cached_reader& reader);

// Decodes each copied folder once and checks its files' CRCs (and the
// folder's, when it has one), as compressing them again did: copied unread,
// damage would pass into the archive, and the recovery archive would be
// removed. Throws corrupt_archive.
void verify_copied(const archive::archive_snapshot& from, const std::vector<copied_folder>& copied);

// The archive with the recovery archive's paths replacing its own, less
// the paths `removed` (as the mount showed them). The request refers to
// `from` (its descriptor, database and path).
archive::commit_request merged_request(const archive::archive_appender& archive, const recovered& recovery,
                                       const std::unordered_set<std::string>& removed,
                                       const archive::archive_snapshot& from);

}  // namespace sevenzfs::fs
