#include "archive_appender.hpp"

#include "archive_error.hpp"
#include "archive_rewriter.hpp"
#include "coder_methods.hpp"
#include "commit_plan.hpp"
#include "test_hooks.hpp"

#include <fmt/format.h>

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <exception>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <utility>

namespace sevenzfs::archive {

namespace {
std::uint64_t packs_end_of(const archive_snapshot& snapshot) {
  if (snapshot.folder_count() == 0) return 0;
  const auto& last = snapshot.folder(snapshot.folder_count() - 1).packs;
  return last.empty() ? 0 : last.back().offset + last.back().size;
}

void check_request(const commit_request& request, std::uint64_t streams, const std::string& path) {
  for (const auto& e : request.entries_without_data) check_archive_path(e.path);
  for (const auto& e : request.new_files) check_archive_path(e.path);
  for (const auto& folder : request.prepacked_folders) {
    for (const auto& e : folder.files) {
      if (e) check_archive_path(e->path);
    }
    const std::uint64_t content = std::accumulate(folder.sizes.begin(), folder.sizes.end(), std::uint64_t{0});
    if (folder.folder == nullptr || folder.files.empty() || folder.files.size() != folder.sizes.size() ||
        folder.crcs.size() != folder.sizes.size() || content != folder.folder->unpack_size()) {
      throw archive_error(error_kind::invalid_input, std::string(folder.path),
                          "a prepacked folder does not match its files");
    }
  }
  for (std::size_t k = 0; k < request.kept_streams.size(); ++k) {
    const auto& kept = request.kept_streams[k];
    if (kept.shown) check_archive_path(kept.shown->path);
    if (kept.stream >= streams || (k > 0 && kept.stream <= request.kept_streams[k - 1].stream)) {
      throw archive_error(error_kind::invalid_input, path, "kept streams must be ascending archive streams");
    }
  }
  std::vector<char> appended(request.new_files.size(), 0);
  for (const auto& file : request.appended_files) {
    if (file.new_file >= appended.size() || file.stream >= streams || std::exchange(appended[file.new_file], 1)) {
      throw archive_error(error_kind::invalid_input, path,
                          "appended files must be distinct new files of archived streams");
    }
  }
}

}  // namespace

archive_appender::archive_appender(std::string path, write_options options)
    : path_(std::move(path)), options_(std::move(options)) {
  struct stat st {};
  const bool found = ::stat(path_.c_str(), &st) == 0;
  if (!found && errno != ENOENT) throw_io_error(path_, "cannot access archive", errno);
  // An empty file (made by mktemp, or `: > a.7z`) is a new archive: nothing
  // in it can be lost, and the first commit writes the archive in its place.
  if (found && !(S_ISREG(st.st_mode) && st.st_size == 0)) {
    written(read_archive(path_));
    exists_ = true;
    publish_snapshot(false, false);
  }
  index_streams();
}

const archive_database& archive_appender::database() const noexcept {
  return database_published_ ? snapshot_->database() : layout_.db;
}

// layout_ describes the file as written, even when publishing it fails.
void archive_appender::written(archive_layout layout) {
  layout_ = std::move(layout);
  database_published_ = false;
}

// A snapshot of what is on disk now, on the descriptor the layout holds
// (taken before the commit point: publishing opens nothing). The one it
// replaces is remembered while someone holds it, when it reads this file.
// `same_data`: the folders of the previous snapshot that this one has lie
// where they lay, and no new folder lies where an earlier one of the same
// data identity did, so cached data and positioned decoders carry over.
// What can throw comes before the database moves into the new snapshot:
// after that, only steps that cannot fail, so that it is never lost.
void archive_appender::publish_snapshot(bool same_file, bool same_data) {
  static std::atomic<int> publications{0};
  if (nth_call_while_set("SEVENZFS_TEST_FAIL_PUBLISH", publications)) {
    throw archive_error(error_kind::io, path_, "cannot publish the snapshot (SEVENZFS_TEST_FAIL_PUBLISH)");
  }
  if (!layout_.file) throw std::logic_error("archive_appender: a layout to publish without its file");
  unique_fd file = std::move(layout_.file);
  std::erase_if(earlier_snapshots_, [](const earlier_snapshot& earlier) { return earlier.snapshot.expired(); });
  if (!same_file) earlier_snapshots_.clear();
  // Remembered even if the next step throws: it only protects more bytes.
  if (same_file && snapshot_) earlier_snapshots_.push_back({snapshot_, packs_end_of(*snapshot_)});
  auto next =
      archive_snapshot::from(std::move(file), path_, std::move(layout_.db), same_data ? snapshot_.get() : nullptr);
  layout_.db = archive_database{};
  layout_.db.pack_position = next->database().pack_position;  // for layout_.packs_start()
  database_published_ = true;
  data_end_ = same_data ? std::max(data_end_, layout_.packs_end) : layout_.packs_end;
  snapshot_ = std::move(next);
}

std::uint64_t archive_appender::protected_end() const {
  std::uint64_t end = 0;
  for (const auto& earlier : earlier_snapshots_) {
    if (!earlier.snapshot.expired()) end = std::max(end, earlier.packs_end);
  }
  return end;
}

void archive_appender::index_streams() {
  first_stream_of_folder_.clear();
  folder_packed_bytes_.clear();
  std::uint64_t first = 0;
  for (auto n : database().substream_counts) {
    first_stream_of_folder_.push_back(first);
    first += n;
  }
  std::size_t pack_stream = 0;
  for (const auto& folder : database().folders) {
    std::uint64_t packed = 0;
    for (std::size_t k = 0; k < folder.packed_streams().size(); ++k) packed += database().pack_sizes.at(pack_stream++);
    folder_packed_bytes_.push_back(packed);
  }
}

std::pair<std::uint64_t, std::uint64_t> archive_appender::folder_of_stream(std::uint64_t stream) const {
  const auto it = std::ranges::upper_bound(first_stream_of_folder_, stream);
  const auto folder = static_cast<std::uint64_t>(it - first_stream_of_folder_.begin()) - 1;
  return {folder, folder_packed_bytes_.at(folder)};
}

commit_result archive_appender::commit(commit_request request) {
  if (!unpublished_.empty()) {
    throw archive_error(error_kind::io, path_, fmt::format("{}; {}", unpublished_, kNoCommitUntilRemount));
  }
  check_request(request, stream_count(), path_);
  commit_result result;
  result.input_bytes = std::accumulate(request.new_files.begin(), request.new_files.end(), std::uint64_t{0},
                                       [](std::uint64_t total, const entry& e) { return total + e.size; });
  for (const auto& folder : request.prepacked_folders) {
    for (std::size_t k = 0; k < folder.files.size(); ++k) result.input_bytes += folder.files[k] ? folder.sizes[k] : 0;
  }
  sameness same;
  try {
    same = write(request, result);
  } catch (const std::exception& error) {
    // Past the commit point (a new archive renamed into place before the
    // directory's fsync failed; a new header pointed to in place before a
    // sync or the cut failed), the archive holds the commit, the snapshot
    // callers number streams by is the one before it: as if publishing it
    // had failed.
    if (past_commit_point_) {
      unpublished_ =
          fmt::format("an earlier commit was written but its snapshot could not be published ({})", error.what());
    } else if (path_names_another_file()) {
      // Replaced by another program: no commit was written.
      unpublished_ = fmt::format("the archive's path names another file now ({})", error.what());
    }
    throw;
  }
  exists_ = true;
  try {
    index_streams();
    publish_snapshot(same.file, same.data);
  } catch (const std::exception& error) {
    // The archive holds this commit, the snapshot callers number streams by
    // does not: a request made from it would keep the wrong streams.
    unpublished_ =
        fmt::format("an earlier commit was written but its snapshot could not be published ({})", error.what());
    throw;
  }
  return result;
}

archive_appender::sameness archive_appender::write(commit_request& request, commit_result& result) {
  past_commit_point_ = false;
  if ((!exists_ || database().empty()) && !request.prepacked_folders.empty()) {
    // Nothing to preserve: a new archive of the prepacked and new folders.
    const commit_plan plan = plan_commit(archive_database{}, request, [](std::size_t) { return false; });
    written(rewrite_archive(path_, nullptr, request, plan, options_, result));
    return {false, false};
  }
  if (!exists_ || database().empty()) {
    // An archive with nothing in it has nothing to preserve: replace it whole.
    auto created = create_archive(path_, request.entries_without_data, request.new_files, options_, true);
    written(std::move(created.layout));
    result.stream_index = std::move(created.stream_index);
    result.rewritten = true;
    return {false, false};
  }
  const auto& folders = database().folders;
  const commit_plan plan = plan_commit(
      database(), request, [&](std::size_t folder) { return unsupported_method(folders[folder]).has_value(); });
  result.kept_anyway = plan.kept_anyway;
  if (const auto continued = continuation_in_place(request, plan)) {
    if (const auto same_data = commit_in_place(request, plan, result, &*continued)) return {true, *same_data};
    // The file did not start with its archived copy after all (or liblzma
    // refused): nothing was written, and the archive is written anew below,
    // with the file compressed whole.
  } else if (can_commit_in_place(request, plan)) {
    return {true, *commit_in_place(request, plan, result, nullptr)};
  }
  bool renamed = false;
  try {
    written(rewrite_archive(path_, snapshot_, request, plan, options_, result, &renamed));
  } catch (...) {
    past_commit_point_ = renamed;  // the new archive is in place: this commit is written
    throw;
  }
  return {false, false};
}

bool archive_appender::path_names_another_file() const {
  if (!snapshot_) return false;
  struct stat named {};
  struct stat ours {};
  if (::stat(path_.c_str(), &named) != 0 || ::fstat(snapshot_->fd(), &ours) != 0) return false;
  return named.st_dev != ours.st_dev || named.st_ino != ours.st_ino;
}

}  // namespace sevenzfs::archive
