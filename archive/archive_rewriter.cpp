#include "archive_rewriter.hpp"

#include "commit_packing.hpp"
#include "output_file.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>

namespace sevenzfs::archive {

namespace {

// Test hook: stop dead after a step, as a crash would.
void exit_after_step_if_asked(int step) {
  const char* wanted = std::getenv("SEVENZFS_TEST_EXIT_AFTER_REWRITE_STEP");
  if (wanted != nullptr && std::atoi(wanted) == step) ::_exit(99);
}

void copy_folder(output_file& out, const archive_snapshot& snapshot, std::size_t folder, commit_result& result) {
  // A folder's pack streams lie back to back.
  const auto& packs = snapshot.folder(folder).packs;
  const std::uint64_t size = std::accumulate(packs.begin(), packs.end(), std::uint64_t{0},
                                             [](std::uint64_t total, const auto& pack) { return total + pack.size; });
  if (size > 0) out.append_copy(snapshot.fd(), packs.front().offset, size, snapshot.path());
  result.copied_bytes += size;
}

}  // namespace

archive_layout rewrite_archive(const std::string& path, const std::shared_ptr<const archive_snapshot>& snapshot,
                               commit_request& request, const commit_plan& plan, const write_options& options,
                               commit_result& result, bool* renamed) {
  const archive_database nothing;
  const archive_database& old = snapshot ? snapshot->database() : nothing;
  database_builder builder(old, request, plan);
  output_file out(path);
  unique_fd reader = out.reader();
  out.append(std::vector<std::uint8_t>(kStartHeaderSize, 0));
  for (std::size_t folder = 0; folder < plan.fates.size(); ++folder) {
    if (plan.fates[folder] != folder_fate::kept) continue;
    copy_folder(out, *snapshot, folder, result);
    builder.add_archived_folder(folder);
  }
  exit_after_step_if_asked(1);
  for (std::size_t folder = 0; folder < plan.fates.size(); ++folder) {
    if (plan.fates[folder] != folder_fate::reencoded) continue;
    if (const auto bytes = pack_survivors(out, snapshot, folder, plan, options.compression, builder)) {
      result.reencoded_bytes += *bytes;
      continue;
    }
    // Damaged or refused by the decoder: it cannot lose files after all.
    copy_folder(out, *snapshot, folder, result);
    builder.add_archived_folder(folder);
    const std::uint64_t first = plan.first_stream[folder];
    for (std::uint64_t s = first; s < first + old.substream_counts[folder]; ++s) {
      if (!plan.stream_kept(s)) result.kept_anyway.push_back(s);
    }
  }
  std::ranges::sort(result.kept_anyway);
  joined_copy copy(out);
  for (std::size_t k = 0; k < request.prepacked_folders.size(); ++k) {
    const auto& folder = request.prepacked_folders[k];
    if (!folder.keeps_all()) continue;
    copy.add(folder.fd, folder.offset, folder.size, folder.path);
    builder.add_prepacked(k);
  }
  copy.flush();
  const auto appended = pack_prepacked_survivors_and_new_files(out, request, options, builder, snapshot.get());
  result.continued_bytes = appended.continued_bytes;
  result.mismatched_prefixes = appended.mismatched_prefixes;
  exit_after_step_if_asked(2);

  archive_layout layout;
  layout.file = std::move(reader);
  layout.packs_end = out.position();
  layout.db = std::move(builder).finish(0, result);
  release_descriptions(request);
  const header_location header =
      write_header(out, layout.db, options.compression.level, options.compression.threads, request.header);
  exit_after_step_if_asked(3);
  try {
    out.commit();
  } catch (...) {
    if (renamed != nullptr) *renamed = out.renamed();
    throw;
  }
  layout.set_header(header);
  layout.file_size = out.position();
  result.rewritten = true;
  return layout;
}

}  // namespace sevenzfs::archive
