#include "commit_packing.hpp"

#include "archive_error.hpp"
#include "folder_packer.hpp"
#include "folder_survivors.hpp"

#include <vector>

namespace sevenzfs::archive {

void pack_new_files(output_file& out, const commit_request& request, const write_options& options,
                    database_builder& builder) {
  const auto plan = plan_folders(request.new_files, options.plan);
  if (plan.empty()) return;
  archive_database part;
  folder_packer(out, part, options.compression).pack(request.new_files, plan);
  std::vector<stream_origin> origins;
  for (const auto& folder : plan) {
    for (auto index : folder.entries) origins.push_back({false, index});
  }
  builder.add_packed(part, origins);
}

std::optional<std::uint64_t> pack_survivors(output_file& out, const std::shared_ptr<const archive_snapshot>& snapshot,
                                            std::size_t folder, const commit_plan& plan,
                                            const compression_options& options, database_builder& builder) {
  const folder_survivors survivors(snapshot, folder);
  std::vector<entry> entries;
  std::vector<stream_origin> origins;
  folder_plan one_folder;
  const std::uint64_t first = plan.first_stream.at(folder);
  for (std::uint64_t s = first; s < first + snapshot->database().substream_counts.at(folder); ++s) {
    if (!plan.stream_kept(s)) continue;
    entry e;
    e.path = builder.describe_archived(s).name;  // names the file in errors
    e.size = snapshot->substream(s).size;
    e.content = survivors.content(s);
    one_folder.entries.push_back(entries.size());
    one_folder.unpack_size += e.size;
    entries.push_back(std::move(e));
    origins.push_back({true, s});
  }
  // Progress counts the commit's new data; compressing kept data again is not part of it.
  compression_options quiet = options;
  quiet.progress = nullptr;
  const std::uint64_t start = out.position();
  archive_database part;
  try {
    folder_packer(out, part, quiet).pack(entries, {one_folder});
  } catch (const archive_error&) {
    if (!survivors.failed()) throw;
    out.truncate(start);
    return std::nullopt;
  }
  builder.add_packed(part, origins);
  return one_folder.unpack_size;
}

}  // namespace sevenzfs::archive
