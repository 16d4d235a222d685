// What the committer reports: its figures for the statistics and the
// service status, and the files a commit could not drop.
#include "committer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

namespace sevenzfs::fs {

void commit_figures::set_error(std::string error) {
  std::lock_guard lock(error_mutex_);
  last_error_ = std::move(error);
}

std::string commit_figures::error() const {
  std::lock_guard lock(error_mutex_);
  return last_error_;
}

commit_progress progress_of(const commit_figures& commits, const stream_figures& streamed) {
  commit_progress progress;
  progress.pending_bytes = streamed.pending_bytes + commits.pending_bytes.load();
  progress.done_bytes = std::min(streamed.written_bytes + commits.done_bytes.load(), progress.pending_bytes);
  if (progress.pending_bytes > 0) {
    progress.percent =
        std::min(99.9, 100.0 * static_cast<double>(progress.done_bytes) / static_cast<double>(progress.pending_bytes));
  } else if (commits.running.load()) {
    progress.percent = 99.9;  // nothing to compress, the header still to write
  }
  return progress;
}

// Removed files whose folder could not be decoded cannot be separated from
// the files it keeps: they stay archived, unseen by the mount. The mount
// refuses to remove files of a folder whose method it cannot decode
// (file_content::replaceable), so this is about damage a commit found.
void committer::report_kept_anyway(const archive::commit_result& result, const archive::archive_snapshot& before) {
  if (result.kept_anyway.empty()) return;
  const auto& files = before.database().files;
  const auto file = before.file_of_substream(result.kept_anyway.front());
  log_.warning(
      "{}: {} removed or replaced file(s) stay in the archive (for example '{}'): their folder uses a method "
      "sevenzfs cannot compress again, or is damaged, and holds files that are kept",
      options_.archive_path, result.kept_anyway.size(), file ? files[*file].name : std::string("?"));
}

void committer::note_archive_figures() {
  const auto& db = archive_.database();
  const auto sum = [](const std::vector<std::uint64_t>& values) {
    return std::accumulate(values.begin(), values.end(), std::uint64_t{0});
  };
  figures_.archive_bytes = archive_.exists() ? archive_.archive_bytes() : 0;
  figures_.dead_bytes = archive_.dead_bytes();
  figures_.packed_bytes = sum(db.pack_sizes);
  figures_.archived_files = db.substream_sizes.size();
  figures_.archived_bytes = sum(db.substream_sizes);
}

}  // namespace sevenzfs::fs
