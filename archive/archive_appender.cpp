#include "archive_appender.hpp"

#include "archive_error.hpp"
#include "crc32.hpp"
#include "file_attributes.hpp"
#include "folder_packer.hpp"
#include "header_serializer.hpp"
#include "output_file.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <numeric>

namespace sevenzfs::archive {

namespace {

// Test hook: stop dead after an append step, as a crash would.
void exit_after_step_if_asked(int step) {
  const char* wanted = std::getenv("SEVENZFS_TEST_EXIT_AFTER_APPEND_STEP");
  if (wanted != nullptr && std::atoi(wanted) == step) ::_exit(99);
}

}  // namespace

archive_appender::archive_appender(std::string path, write_options options)
    : path_(std::move(path)), options_(std::move(options)) {
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) {
    layout_ = read_archive(path_);
    exists_ = true;
    publish_snapshot(false);
  } else if (errno != ENOENT) {
    throw_io_error(path_, "cannot access archive", errno);
  }
  index_streams();
}

// A snapshot of what is on disk now, on a descriptor of its own. After an
// in-place commit its folders lie where they lay: the same data.
void archive_appender::publish_snapshot(bool same_data) {
  unique_fd file(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file) throw_io_error(path_, "cannot open archive", errno);
  snapshot_ = archive_snapshot::from(std::move(file), path_, layout_.db, same_data ? snapshot_.get() : nullptr);
}

void archive_appender::index_streams() {
  first_stream_of_folder_.clear();
  folder_packed_bytes_.clear();
  std::uint64_t first = 0;
  for (auto n : layout_.db.substream_counts) {
    first_stream_of_folder_.push_back(first);
    first += n;
  }
  std::size_t pack_stream = 0;
  for (const auto& folder : layout_.db.folders) {
    std::uint64_t packed = 0;
    for (std::size_t k = 0; k < folder.packed_streams.size(); ++k) packed += layout_.db.pack_sizes.at(pack_stream++);
    folder_packed_bytes_.push_back(packed);
  }
}

std::pair<std::uint64_t, std::uint64_t> archive_appender::folder_of_stream(std::uint64_t stream) const {
  const auto it = std::ranges::upper_bound(first_stream_of_folder_, stream);
  const auto folder = static_cast<std::uint64_t>(it - first_stream_of_folder_.begin()) - 1;
  return {folder, folder_packed_bytes_.at(folder)};
}

archive_database archive_appender::build_database(const commit_request& request,
                                                  const archive_database& new_part) const {
  const auto& old = layout_.db;
  archive_database db = old;
  // With no old folders the new packs start where the packed area ends.
  if (old.folders.empty()) db.pack_position = layout_.packs_end - kStartHeaderSize;
  db.pack_sizes.insert(db.pack_sizes.end(), new_part.pack_sizes.begin(), new_part.pack_sizes.end());
  db.folders.insert(db.folders.end(), new_part.folders.begin(), new_part.folders.end());
  db.substream_counts.insert(db.substream_counts.end(), new_part.substream_counts.begin(),
                             new_part.substream_counts.end());
  db.substream_sizes.insert(db.substream_sizes.end(), new_part.substream_sizes.begin(), new_part.substream_sizes.end());
  db.substream_crcs.insert(db.substream_crcs.end(), new_part.substream_crcs.begin(), new_part.substream_crcs.end());
  db.files.clear();
  std::uint64_t stream = 0;
  auto kept = request.kept_streams.begin();
  for (const auto& file : old.files) {
    if (!file.has_stream) continue;
    const bool listed = kept != request.kept_streams.end() && kept->stream == stream;
    ++stream;
    const auto& shown = listed ? (kept++)->shown : std::nullopt;
    db.files.push_back(shown ? describe_entry(*shown) : file);
    db.files.back().has_stream = true;
    // An entry carries no creation or access time: keep the header's.
    db.files.back().ctime = file.ctime;
    db.files.back().atime = file.atime;
  }
  for (const auto& e : request.entries_without_data) db.files.push_back(describe_entry(e));
  db.files.insert(db.files.end(), new_part.files.begin(), new_part.files.end());
  return db;
}

commit_result archive_appender::commit(const commit_request& request) {
  for (const auto& e : request.entries_without_data) check_archive_path(e.path);
  for (const auto& e : request.new_files) check_archive_path(e.path);
  for (std::size_t k = 0; k < request.kept_streams.size(); ++k) {
    const auto& kept = request.kept_streams[k];
    if (kept.shown) check_archive_path(kept.shown->path);
    if (kept.stream >= stream_count() || (k > 0 && kept.stream <= request.kept_streams[k - 1].stream)) {
      throw archive_error(error_kind::invalid_input, path_, "kept streams must be ascending archive streams");
    }
  }
  if (request.kept_streams.size() != stream_count() || request.compact) {
    throw archive_error(error_kind::unsupported, path_, "dropping archived files is not built yet");
  }
  commit_result result;
  for (const auto& kept : request.kept_streams) result.kept_index.push_back(kept.stream);
  result.input_bytes = std::accumulate(request.new_files.begin(), request.new_files.end(), std::uint64_t{0},
                                       [](std::uint64_t total, const entry& e) { return total + e.size; });
  const bool in_place = exists_ && !layout_.db.empty();
  if (in_place) {
    append(request, result);
  } else {
    // An archive with nothing in it has nothing to preserve: replace it whole.
    auto created = create_archive(path_, request.entries_without_data, request.new_files, options_);
    layout_ = std::move(created.layout);
    result.stream_index = std::move(created.stream_index);
  }
  exists_ = true;
  index_streams();
  publish_snapshot(in_place);
  return result;
}

void archive_appender::append(const commit_request& request, commit_result& result) {
  const auto plan = plan_folders(request.new_files, options_.plan);
  // The new folders, compressed beside the archive so their size is known.
  output_file pending(path_ + ".pending");
  archive_database new_part;
  folder_packer packer(pending, new_part, options_.compression);
  packer.pack(request.new_files, plan);
  pending.sync();
  const std::uint64_t new_packs = pending.position();

  archive_database db = build_database(request, new_part);
  output_file archive = output_file::in_place(path_);
  place_new_header(archive, db, layout_.packs_end, new_packs, [&] {
    // (2) The new packs right after the old ones, over the old header.
    pending.copy_to(archive, layout_.packs_end, new_packs);
    archive.sync();
  });

  // What is on disk now, without reading it back: a commit costs what was
  // written plus the header, not a parse of the whole archive.
  result.stream_index = stream_indices(plan, request.new_files.size(), layout_.db.substream_sizes.size());
  layout_.packs_end += new_packs;
  layout_.db = std::move(db);
}

// The steps every in-place change of the archive takes, so that a crash at
// any point leaves the previous archive or the new one, and the new header
// ends up right after the packs with nothing dead between or behind them:
// (1) a copy of the current header goes beyond everything the next steps
// write, and the start header points at it; (2) `write_packs` writes
// `new_packs` bytes at `packs_end`, where only the old header was; (3) the
// new header is written after the new packs — if it would overlap the copy
// the start header points to, it is first written beyond, pointed at, and
// only then written in its place; (4) the file is cut after the header.
void archive_appender::place_new_header(output_file& archive, const archive_database& db, std::uint64_t packs_end,
                                        std::uint64_t new_packs, const std::function<void()>& write_packs) {
  const int level = options_.compression.level;
  // (1)
  const std::uint64_t copy_at = std::max(archive.position(), packs_end + new_packs);
  // The copy lives for one commit: compressed fast, not well.
  const header_location copy = prepared_header(layout_.db, std::min(level, 1)).write(archive, copy_at);
  archive.sync();
  exit_after_step_if_asked(1);
  // (2)
  write_packs();
  exit_after_step_if_asked(2);
  // (3)
  const prepared_header header(db, level);
  const std::uint64_t final_at = packs_end + new_packs;
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
  layout_.header_start = placed.start;
  layout_.header_offset = placed.offset;
  layout_.header_size = placed.size;
  layout_.file_size = placed.end();
}

bool archive_appender::has_dead_space() const noexcept {
  if (!exists_ || layout_.db.empty()) return false;
  return layout_.header_start != layout_.packs_end || layout_.header_offset + layout_.header_size != layout_.file_size;
}

std::uint64_t archive_appender::dead_bytes() const noexcept {
  if (!exists_ || layout_.db.empty()) return 0;
  const std::uint64_t before_packs = layout_.db.pack_position;
  const std::uint64_t between = layout_.header_start - std::min(layout_.header_start, layout_.packs_end);
  const std::uint64_t header_end = layout_.header_offset + layout_.header_size;
  const std::uint64_t after = layout_.file_size - std::min(layout_.file_size, header_end);
  return before_packs + between + after;
}

void archive_appender::tidy() {
  if (!has_dead_space()) return;
  output_file archive = output_file::in_place(path_);
  place_new_header(archive, layout_.db, layout_.packs_end, 0, [] {});
}

}  // namespace sevenzfs::archive
