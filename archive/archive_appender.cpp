#include "archive_appender.hpp"

#include "archive_error.hpp"
#include "crc32.hpp"
#include "folder_packer.hpp"
#include "header_serializer.hpp"
#include "output_file.hpp"

#include <fmt/format.h>

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
  } else if (errno != ENOENT) {
    throw_io_error(path_, "cannot access archive", errno);
  }
  index_streams();
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
  db.files = request.archived_stream_files;
  for (const auto& e : request.entries_without_data) db.files.push_back(describe_entry(e));
  db.files.insert(db.files.end(), new_part.files.begin(), new_part.files.end());
  return db;
}

commit_result archive_appender::commit(const commit_request& request) {
  for (const auto& e : request.entries_without_data) check_archive_path(e.path);
  for (const auto& e : request.new_files) check_archive_path(e.path);
  for (const auto& f : request.archived_stream_files) check_archive_path(f.name);
  if (request.archived_stream_files.size() != layout_.db.substream_sizes.size()) {
    throw archive_error(error_kind::invalid_input, path_,
                        fmt::format("commit lists {} archived files but the archive holds {} streams",
                                    request.archived_stream_files.size(), layout_.db.substream_sizes.size()));
  }
  commit_result result;
  result.input_bytes = std::accumulate(request.new_files.begin(), request.new_files.end(), std::uint64_t{0},
                                       [](std::uint64_t total, const entry& e) { return total + e.size; });
  if (exists_ && !layout_.db.empty()) {
    append(request, result);
  } else {
    // An archive with nothing in it has nothing to preserve: replace it whole.
    auto created = create_archive(path_, request.entries_without_data, request.new_files, options_);
    layout_ = std::move(created.layout);
    result.stream_index = std::move(created.stream_index);
  }
  exists_ = true;
  index_streams();
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

  output_file archive = output_file::in_place(path_);
  const std::uint64_t packs_end = layout_.packs_end;
  const std::uint64_t header_end = layout_.header_offset + layout_.header_size;

  // (1) A plain copy of the current header where neither the new packs nor
  // the header in use can reach it; the start header points at it.
  const auto copy = serialize_header(layout_.db);
  const std::uint64_t copy_at = std::max({header_end, packs_end + new_packs, archive.position()});
  archive.write_at(copy_at, copy);
  archive.sync();
  archive.write_at(0, make_start_header(copy_at - kStartHeaderSize, copy.size(), crc32::of(copy)));
  archive.sync();
  exit_after_step_if_asked(1);

  // (2) The new packs right after the old ones, over the old header.
  pending.copy_to(archive, packs_end, new_packs);
  archive.sync();
  exit_after_step_if_asked(2);

  // (3) The new header after the copy; the start header points at it.
  archive_database db = build_database(request, new_part);
  archive.set_position(copy_at + copy.size());
  const auto header = write_header(archive, db, options_.compression.level);
  archive.sync();
  exit_after_step_if_asked(3);

  // (4) Drop what lies beyond the new header.
  archive.truncate(archive.position());
  archive.sync();

  // What is on disk now, without reading it back: a commit costs what was
  // written plus the header, not a parse of the whole archive.
  result.stream_index = stream_indices(plan, request.new_files.size(), layout_.db.substream_sizes.size());
  layout_.packs_end = packs_end + new_packs;
  layout_.header_offset = header.offset;
  layout_.header_size = header.size;
  layout_.packed_headers = header.packed;
  layout_.file_size = archive.position();
  layout_.db = std::move(db);
}

}  // namespace sevenzfs::archive
