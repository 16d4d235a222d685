#include "archive_appender.hpp"

#include "archive_error.hpp"
#include "archive_rewriter.hpp"
#include "coder_methods.hpp"
#include "commit_packing.hpp"
#include "commit_plan.hpp"
#include "crc32.hpp"
#include "file_io.hpp"
#include "header_serializer.hpp"
#include "test_hooks.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <exception>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace sevenzfs::archive {

namespace {
// Test hook: stop dead after an in-place step, as a crash would.
void exit_after_step_if_asked(int step) {
  const char* wanted = std::getenv("SEVENZFS_TEST_EXIT_AFTER_APPEND_STEP");
  if (wanted != nullptr && std::atoi(wanted) == step) ::_exit(99);
}

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

// Writing in place goes through the path: should another program have put
// a file of its own there since the last commit, it would be written over
// with packs and a header that only fit ours.
void check_same_file(int opened, int ours, const std::string& path) {
  struct stat now {};
  struct stat before {};
  if (::fstat(opened, &now) != 0) throw_io_error(path, "cannot stat archive", errno);
  if (::fstat(ours, &before) != 0) throw_io_error(path, "cannot stat archive", errno);
  if (now.st_dev != before.st_dev || now.st_ino != before.st_ino) {
    throw archive_error(
        error_kind::io, path,
        "the archive was replaced by another file since it was mounted or last committed; "
                        "unmount and mount it again");
  }
}

}  // namespace

archive_appender::archive_appender(std::string path, write_options options)
    : path_(std::move(path)), options_(std::move(options)) {
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) {
    written(read_archive(path_));
    exists_ = true;
    publish_snapshot(false, false);
  } else if (errno != ENOENT) {
    throw_io_error(path_, "cannot access archive", errno);
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
    throw archive_error(error_kind::io, path_,
                        fmt::format("an earlier commit was written but its snapshot could not be published ({}); "
                                    "no commit is made until it is mounted again",
                                    unpublished_));
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
    if (past_commit_point_ || path_names_another_file()) unpublished_ = error.what();
    throw;
  }
  exists_ = true;
  try {
    index_streams();
    publish_snapshot(same.file, same.data);
  } catch (const std::exception& error) {
    // The archive holds this commit, the snapshot callers number streams by
    // does not: a request made from it would keep the wrong streams.
    unpublished_ = error.what();
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
  if (can_commit_in_place(request, plan)) return {true, commit_in_place(request, plan, result)};
  written(rewrite_archive(path_, snapshot_, request, plan, options_, result));
  return {false, false};
}

bool archive_appender::path_names_another_file() const {
  if (!snapshot_) return false;
  struct stat named {};
  struct stat ours {};
  if (::stat(path_.c_str(), &named) != 0 || ::fstat(snapshot_->fd(), &ours) != 0) return false;
  return named.st_dev != ours.st_dev || named.st_ino != ours.st_ino;
}

// In place only when the folders kept come first and the dropped ones, if
// any, after them (the kept packs stay where they are, contiguous from the
// pack position), and new packs would overwrite no packed bytes a reader
// may still use: none of the dropped folders (the header standing in for
// the old one during the commit uses them), none an earlier snapshot can
// read. Keeping no folder at all, a new archive costs no more.
bool archive_appender::can_commit_in_place(const commit_request& request, const commit_plan& plan) const {
  const std::size_t kept = plan.kept_prefix();
  if (kept == 0 || kept + plan.count(folder_fate::dead) != plan.fates.size()) return false;
  const bool drops = kept < plan.fates.size();
  if (request.compact && (drops || dead_bytes() > 0)) return false;
  const bool new_data = std::ranges::any_of(request.prepacked_folders,
                                            [](const prepacked_folder& folder) { return !folder.keeps_none(); }) ||
                        std::ranges::any_of(request.new_files, [](const entry& e) { return e.size > 0; });
  return !new_data || (!drops && protected_end() <= layout_.packs_end);
}

bool archive_appender::commit_in_place(commit_request& request, const commit_plan& plan, commit_result& result) {
  const std::size_t kept = plan.kept_prefix();
  database_builder builder(database(), request, plan);
  for (std::size_t folder = 0; folder < kept; ++folder) builder.add_archived_folder(folder);
  const std::uint64_t kept_end =
      std::accumulate(folder_packed_bytes_.begin(), folder_packed_bytes_.begin() + static_cast<std::ptrdiff_t>(kept),
                      layout_.packs_start());
  // Prepacked folders that keep every file first (copied), then what is
  // compressed now beside the archive, so that its size is known: the kept
  // files of prepacked folders that lose some, and the new files.
  std::uint64_t new_packs = 0;
  bool compress = !request.new_files.empty();
  // What to copy, joined where folders lie back to back in one pending file
  // (they mostly do): the request is let go of before the copy.
  struct packed_range {
    int fd;
    std::string_view path;
    std::uint64_t offset;
    std::uint64_t size;
  };
  std::vector<packed_range> copied;
  for (std::size_t k = 0; k < request.prepacked_folders.size(); ++k) {
    const auto& folder = request.prepacked_folders[k];
    if (folder.keeps_all()) {
      builder.add_prepacked(k);
      new_packs += folder.size;
      if (!copied.empty() && copied.back().fd == folder.fd &&
          copied.back().offset + copied.back().size == folder.offset) {
        copied.back().size += folder.size;
      } else {
        copied.push_back({folder.fd, folder.path, folder.offset, folder.size});
      }
    }
    compress = compress || (!folder.keeps_all() && !folder.keeps_none());
  }
  std::optional<output_file> pending;
  if (compress) {
    pending.emplace(path_ + ".pending");
    const auto appended = pack_prepacked_survivors_and_new_files(*pending, request, options_, builder, snapshot_.get());
    result.continued_bytes = appended.continued_bytes;
    result.mismatched_prefixes = appended.mismatched_prefixes;
    pending->sync();
    new_packs += pending->position();
  }
  archive_database db = std::move(builder).finish(database().pack_position, result);
  release_descriptions(request);

  output_file archive = output_file::in_place(path_);
  if (snapshot_) check_same_file(archive.fd(), snapshot_->fd(), path_);
  unique_fd reader = archive.reader();
  // Dropped folders (before layout_.packs_end) and bytes earlier snapshots
  // read stay: the header goes after them.
  const std::uint64_t header_floor = std::max(layout_.packs_end, protected_end());
  place_new_header(
      archive, db, kept_end, new_packs,
      [&] {
        // (2) The new packs right after the kept ones, over the old header.
        archive.set_position(kept_end);
        joined_copy copy(archive);
        for (const auto& range : copied) copy.add(range.fd, range.offset, range.size, range.path);
        if (pending) copy.add(pending->fd(), 0, pending->position(), pending->current_path());
        copy.flush();
        archive.sync();
      },
      header_floor);
  // What is on disk now, without reading it back: a commit costs what was
  // written plus the header, not a parse of the whole archive.
  layout_.packs_end = kept_end + new_packs;
  layout_.db = std::move(db);
  layout_.file = std::move(reader);
  database_published_ = false;
  // New folders where dropped ones lay are other data at the same places.
  return new_packs == 0 || kept_end >= data_end_;
}

// The steps every in-place change of the archive takes, so that a crash at
// any point leaves the previous archive or the new one: (1) a copy of the
// current header goes beyond everything the next steps write, and the start
// header points at it; (2) `write_packs` writes `new_packs` bytes at
// `packs_end`, where nothing the current header uses lies; (3) the new
// header is written after the new packs and not before `header_floor` — if
// it would overlap the copy the start header points to, it is first written
// beyond, pointed at, and only then written in its place; (4) the file is
// cut after the header.
void archive_appender::place_new_header(output_file& archive, const archive_database& db, std::uint64_t packs_end,
                                        std::uint64_t new_packs, const std::function<void()>& write_packs,
                                        std::uint64_t header_floor) {
  const int level = options_.compression.level;
  const std::uint64_t final_at = std::max(packs_end + new_packs, header_floor);
  // (1)
  const std::uint64_t copy_at = std::max({archive.position(), packs_end + new_packs, header_floor});
  const header_location copy = copy_current_header(archive, copy_at);
  archive.sync();
  // The start header points at the copy now, and the next steps write over
  // the old place: should one of them fail, the next commit moves the copy.
  layout_.set_header(copy);
  layout_.file_size = std::max(layout_.file_size, copy.end());
  exit_after_step_if_asked(1);
  // (2)
  write_packs();
  exit_after_step_if_asked(2);
  // (3)
  const prepared_header header(db, level, options_.compression.threads);
  past_commit_point_ = true;  // from the first header write on (the safe side)
  if (final_at + header.size_bound() > copy.start) {
    header.write(archive, std::max(copy.end(), final_at + header.size_bound()));
    archive.sync();
  }
  const header_location placed = header.write(archive, final_at);
  archive.sync();
  exit_after_step_if_asked(3);
  // (4)
  archive.truncate(placed.end());
  archive.sync();
  layout_.set_header(placed);
  layout_.file_size = placed.end();
}

// Step (1)'s copy: the current header's bytes moved to `at` (a commit of a
// million files spends its time compressing the header, with every writer
// waiting), where only an encoded header's block, which names the position
// of its packed stream, is made anew. A header encoded twice is serialized
// and compressed again.
header_location archive_appender::copy_current_header(output_file& archive, std::uint64_t at) const {
  const bool plain = layout_.header_start == layout_.header_offset;
  if (!plain && !layout_.header_folder) {
    return prepared_header(database(), 1, options_.compression.threads).write(archive, at);
  }
  header_location copy{at, at, layout_.header_size, layout_.header_folder};
  std::vector<std::uint8_t> block;
  if (plain) {
    block.resize(layout_.header_size);
    if (read_at(archive.fd(), layout_.header_offset, block, path_) != block.size()) {
      throw archive_error(error_kind::corrupt_archive, path_, "the archive was cut short: its header is missing");
    }
  } else {
    const std::uint64_t packed = layout_.header_offset - layout_.header_start;
    const std::uint64_t position = archive.position();
    archive.set_position(at);
    archive.append_copy(archive.fd(), layout_.header_start, packed, path_);
    archive.set_position(position);
    copy.offset = at + packed;
    block = serialize_encoded_header(at - kStartHeaderSize, packed, *layout_.header_folder);
    copy.size = block.size();
  }
  archive.write_at(copy.offset, block);
  // The header is durable before the start header points at it.
  archive.sync();
  archive.write_at(0, make_start_header(copy.offset - kStartHeaderSize, block.size(), crc32::of(block)));
  return copy;
}

bool archive_appender::has_dead_space() const noexcept {
  if (!exists_ || database().empty()) return false;
  return layout_.header_start != layout_.packs_end || layout_.header_offset + layout_.header_size != layout_.file_size;
}

std::uint64_t archive_appender::dead_bytes() const noexcept {
  if (!exists_ || database().empty()) return 0;
  return archive::dead_bytes(layout_);
}

void archive_appender::tidy() {
  if (!has_dead_space()) return;
  output_file archive = output_file::in_place(path_);
  place_new_header(
      archive, database(), layout_.packs_end, 0, [] {}, protected_end());
}

}  // namespace sevenzfs::archive
