// The in-place commits of archive_appender (see archive_appender.hpp): when
// a commit may write in place, the steps that keep a valid archive on disk
// at every moment, and the header's copy that stands in meanwhile.
#include "archive_appender.hpp"

#include "archive_error.hpp"
#include "commit_packing.hpp"
#include "commit_plan.hpp"
#include "crc32.hpp"
#include "file_io.hpp"
#include "header_serializer.hpp"

#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sevenzfs::archive {

namespace {
// Test hooks: stop dead after an in-place step, as a crash would, or fail
// there, as an error would.
void after_step(int step, const std::string& path) {
  const char* exit_at = std::getenv("SEVENZFS_TEST_EXIT_AFTER_APPEND_STEP");
  if (exit_at != nullptr && std::atoi(exit_at) == step) ::_exit(99);
  const char* fail_at = std::getenv("SEVENZFS_TEST_FAIL_AFTER_APPEND_STEP");
  if (fail_at != nullptr && std::atoi(fail_at) == step) {
    throw archive_error(error_kind::io, path,
                        fmt::format("failed after in-place step {} (SEVENZFS_TEST_FAIL_AFTER_APPEND_STEP)", step));
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
    throw archive_error(error_kind::io, path,
                        fmt::format("the archive was replaced by another file since it was mounted or last "
                                    "committed; {}",
                                    kNoCommitUntilRemount));
  }
}

}  // namespace

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

// A log a service keeps writing: the archive's last folder is the only one
// that loses its file, which an appended file continues (see
// commit_in_place).
std::optional<archive_appender::in_place_continuation> archive_appender::continuation_in_place(
    const commit_request& request, const commit_plan& plan) const {
  if (request.compact || options_.compression.level <= 0 || plan.fates.empty()) return std::nullopt;
  const std::size_t last = plan.fates.size() - 1;
  if (plan.kept_prefix() != last || plan.fates[last] != folder_fate::dead) return std::nullopt;
  if (protected_end() > layout_.packs_end) return std::nullopt;
  for (const auto& file : request.appended_files) {
    if (folder_of_stream(file.stream).first != last) continue;
    auto from = continuation_of(*snapshot_, file.stream);
    if (!from || from->packed.offset + from->packed.size != layout_.packs_end) return std::nullopt;
    return in_place_continuation{file.new_file, *from};
  }
  return std::nullopt;
}

// With `continued`, the archive's last folder is continued where it lies:
// its packed bytes, but for the end marker, are the start of the new
// folder, whose new chunks are written over that marker; the header that
// stands in meanwhile (step 1) describes the folder without its marker,
// which every reader accepts, so that no state on disk uses a byte being
// written. Returns nullopt, with nothing written, when the file cannot be
// continued after all.
std::optional<bool> archive_appender::commit_in_place(commit_request& request, const commit_plan& plan,
                                                      commit_result& result, const in_place_continuation* continued) {
  const std::size_t kept = plan.kept_prefix();
  database_builder builder(database(), request, plan);
  for (std::size_t folder = 0; folder < kept; ++folder) builder.add_archived_folder(folder);
  const std::uint64_t kept_end =
      std::accumulate(folder_packed_bytes_.begin(), folder_packed_bytes_.begin() + static_cast<std::ptrdiff_t>(kept),
                      layout_.packs_start());
  // The continued folder first (its new chunks compressed beside the
  // archive), prepacked folders that keep every file (copied), then what is
  // compressed now beside the archive, so that its size is known: the kept
  // files of prepacked folders that lose some, and the new files.
  std::optional<output_file> pending;
  std::uint64_t new_packs = 0;
  std::uint64_t continued_packed = 0;  // of pending: the continued folder's new chunks
  if (continued) {
    pending.emplace(path_ + ".pending");
    if (!pack_continued_in_place(*pending, request, continued->new_file, continued->from, options_.compression,
                                 builder)) {
      return std::nullopt;
    }
    continued_packed = pending->position();
    new_packs += continued->from.kept_packed_bytes;
    result.continued_bytes = continued->from.prefix_bytes;
  }
  bool compress = request.new_files.size() > (continued ? 1u : 0u);
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
  if (compress) {
    if (!pending) pending.emplace(path_ + ".pending");
    const auto appended =
        pack_prepacked_survivors_and_new_files(*pending, request, options_, builder, snapshot_.get(),
                                               continued ? std::optional(continued->new_file) : std::nullopt);
    result.continued_bytes += appended.continued_bytes;
    result.mismatched_prefixes = appended.mismatched_prefixes;
  }
  if (pending) {
    pending->sync();
    new_packs += pending->position();
  }
  archive_database db = std::move(builder).finish(database().pack_position, result);
  const header_effort effort = request.header;
  release_descriptions(request);

  output_file archive = output_file::in_place(path_);
  if (snapshot_) check_same_file(archive.fd(), snapshot_->fd(), path_);
  unique_fd reader = archive.reader();
  // Dropped folders (before layout_.packs_end) and bytes earlier snapshots
  // read stay: the header goes after them.
  const std::uint64_t header_floor = std::max(layout_.packs_end, protected_end());
  const std::uint64_t in_place = continued ? continued->from.kept_packed_bytes : 0;
  const bool over_marker = continued && in_place < continued->from.packed.size;
  try {
    place_new_header(
        archive, db, kept_end, new_packs,
        [&] {
          // (2) The new packs right after the kept ones (and the continued
          // folder's archived bytes), over the old header.
          archive.set_position(kept_end + in_place);
          joined_copy copy(archive);
          if (continued_packed > 0) copy.add(pending->fd(), 0, continued_packed, pending->current_path());
          for (const auto& range : copied) copy.add(range.fd, range.offset, range.size, range.path);
          if (pending && pending->position() > continued_packed) {
            copy.add(pending->fd(), continued_packed, pending->position() - continued_packed, pending->current_path());
          }
          copy.flush();
          archive.sync();
        },
        header_floor, effort, over_marker ? std::optional(in_place) : std::nullopt);
  } catch (...) {
    // Failed before the commit point (a full disk in step 2): the snapshot
    // callers go on with still names the continued folder with its end
    // marker, which a later commit that keeps the log would write into a
    // header. Put back, it makes the file match the snapshot again (the
    // header standing in does not reach it); if that fails too, commits
    // stop until a mount reads the file as it is.
    if (over_marker && !past_commit_point_) {
      try {
        const std::uint8_t marker = 0x00;
        archive.write_at(kept_end + in_place, std::span(&marker, 1));
        archive.sync();
      } catch (const std::exception&) {
        past_commit_point_ = true;
      }
    }
    throw;
  }
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
                                        std::uint64_t header_floor, header_effort effort,
                                        std::optional<std::uint64_t> standing_last_pack) {
  const int level = options_.compression.level;
  const std::uint64_t final_at = std::max(packs_end + new_packs, header_floor);
  // (1)
  const std::uint64_t copy_at = std::max({archive.position(), packs_end + new_packs, header_floor});
  const header_location copy = copy_current_header(archive, copy_at, standing_last_pack);
  archive.sync();
  // The start header points at the copy now, and the next steps write over
  // the old place: should one of them fail, the next commit moves the copy.
  layout_.set_header(copy);
  layout_.file_size = std::max(layout_.file_size, copy.end());
  after_step(1, path_);
  // (2)
  write_packs();
  after_step(2, path_);
  // (3)
  const prepared_header header(db, level, options_.compression.threads, std::nullopt, effort);
  past_commit_point_ = true;  // from the first header write on (the safe side)
  if (final_at + header.size_bound() > copy.start) {
    header.write(archive, std::max(copy.end(), final_at + header.size_bound()));
    archive.sync();
  }
  const header_location placed = header.write(archive, final_at);
  archive.sync();
  after_step(3, path_);
  // (4)
  archive.truncate(placed.end());
  archive.sync();
  layout_.set_header(placed);
  layout_.file_size = placed.end();
}

// Step (1)'s copy: the current header's bytes moved to `at` (a commit of a
// million files spends its time compressing the header, with every writer
// waiting), where only an encoded header's block, which names the position
// of its packed stream, is made anew. A header encoded twice, or one that
// must describe the last folder as `last_pack_size` long, is serialized and
// compressed again: quickly, as the commit replaces it (unless it dies
// first; then the next commit does).
header_location archive_appender::copy_current_header(output_file& archive, std::uint64_t at,
                                                      std::optional<std::uint64_t> last_pack_size) const {
  const bool plain = layout_.header_start == layout_.header_offset;
  if ((!plain && !layout_.header_folder) || last_pack_size) {
    return prepared_header(database(), 1, options_.compression.threads, last_pack_size, header_effort::quick)
        .write(archive, at);
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
      archive, database(), layout_.packs_end, 0, [] {}, protected_end(), header_effort::best);
}

}  // namespace sevenzfs::archive
