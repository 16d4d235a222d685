#pragma once
// Writes the next state of an archive as a new file, as 7-Zip's update does:
// under a temporary name beside it, the packed bytes of the folders it keeps
// first (copied verbatim, in their order), then the kept files of folders
// that lose others (decoded and compressed again), then the prepacked
// folders (copied), then the new files, then the header; fsync, rename over
// the archive, fsync of the directory. The
// archive is untouched until the rename, so a crash leaves it as it was (and
// a temporary file that remove_leftovers takes away). The result has no dead
// bytes and its packs start right after the start header.
//
// For crash tests only: SEVENZFS_TEST_EXIT_AFTER_REWRITE_STEP=N makes the
// process _exit(99) right after step N: 1 kept folders copied, 2 new folders
// written, 3 header written and synced (the rename not done).
#include "archive_layout.hpp"
#include "archive_snapshot.hpp"
#include "archive_writer.hpp"
#include "commit_plan.hpp"

#include <memory>
#include <string>

namespace sevenzfs::archive {

// `snapshot` is the archive at `path` as committed (null: there is none),
// `plan` what becomes of its folders. Fills `result` (indices, kept_anyway for folders found
// undecodable while reading, reencoded_bytes, copied_bytes, rewritten).
// Returns what is on disk now. The request's descriptions of files are let
// go of (release_descriptions) once the new database is built. `renamed`
// (if given) is set once the new archive is renamed into place, also when
// what follows (the directory's fsync) throws: the commit is then written.
archive_layout rewrite_archive(const std::string& path, const std::shared_ptr<const archive_snapshot>& snapshot,
                               commit_request& request, const commit_plan& plan, const write_options& options,
                               commit_result& result, bool* renamed = nullptr);

}  // namespace sevenzfs::archive
