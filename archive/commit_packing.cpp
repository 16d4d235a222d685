#include "commit_packing.hpp"

#include "archive_error.hpp"
#include "folder_continuation.hpp"
#include "folder_packer.hpp"
#include "folder_survivors.hpp"

#include <fcntl.h>

#include <cerrno>
#include <vector>

namespace sevenzfs::archive {

appended_packing pack_new_files(output_file& out, const commit_request& request, const write_options& options,
                                database_builder& builder, const archive_snapshot* current,
                                std::optional<std::size_t> packed_already) {
  // Appended files leave the plan: each goes last, in a folder of its own.
  std::vector<char> appended(request.new_files.size(), 0);
  std::vector<std::pair<std::size_t, std::optional<folder_continuation>>> alone;
  for (const auto& file : request.appended_files) {
    appended.at(file.new_file) = 1;  // the request was checked: distinct new files
    if (file.new_file == packed_already) continue;
    std::optional<folder_continuation> from;
    if (current != nullptr && options.compression.level > 0) from = continuation_of(*current, file.stream);
    alone.emplace_back(file.new_file, from);
  }
  auto plan = plan_folders(request.new_files, options.plan);
  if (!request.appended_files.empty()) {
    for (auto& folder : plan) {
      std::erase_if(folder.entries, [&](std::size_t index) {
        if (!appended[index]) return false;
        folder.unpack_size -= request.new_files[index].size;
        return true;
      });
    }
    std::erase_if(plan, [](const folder_plan& folder) { return folder.entries.empty(); });
  }
  if (plan.empty() && alone.empty()) return {};
  archive_database part;
  folder_packer packer(out, part, options.compression);
  if (!plan.empty()) packer.pack(request.new_files, plan);
  std::vector<stream_origin> origins;
  for (const auto& folder : plan) {
    for (auto index : folder.entries) origins.push_back({false, index});
  }
  appended_packing packing;
  for (const auto& [index, from] : alone) {
    const entry& grown = request.new_files[index];
    if (from && packer.pack_continued(grown, *from)) {
      packing.continued_bytes += from->prefix_bytes;
    } else {
      packer.pack(request.new_files, {folder_plan{{index}, grown.size}});
    }
    origins.push_back({false, index});
  }
  packing.mismatched_prefixes = packer.mismatched_prefixes();
  builder.add_packed(part, origins);
  return packing;
}

void pack_prepacked_survivors(output_file& out, const commit_request& request, std::size_t index,
                              const compression_options& options, database_builder& builder) {
  const prepacked_folder& folder = request.prepacked_folders.at(index);
  if (folder.offset < kStartHeaderSize) {
    throw archive_error(error_kind::invalid_input, std::string(folder.path),
                        "prepacked bytes cannot lie in the first 32 bytes");
  }
  // The folder as a one-folder archive state over the file that holds it.
  archive_database db;
  db.pack_position = folder.offset - kStartHeaderSize;
  db.pack_sizes = {folder.size};
  db.folders = {*folder.folder};
  db.substream_counts = {folder.sizes.size()};
  db.substream_sizes.assign(folder.sizes.begin(), folder.sizes.end());
  for (auto crc : folder.crcs) db.substream_crcs.emplace_back(crc);
  unique_fd fd(::fcntl(folder.fd, F_DUPFD_CLOEXEC, 0));
  if (!fd) throw_io_error(std::string(folder.path), "cannot read prepacked folder", errno);
  const folder_survivors survivors(archive_snapshot::from(std::move(fd), std::string(folder.path), std::move(db)), 0);

  std::vector<entry> entries;
  std::vector<stream_origin> origins;
  folder_plan one_folder;
  for (std::size_t k = 0; k < folder.files.size(); ++k) {
    if (!folder.files[k]) continue;
    entry e;
    e.path = folder.files[k]->path;  // names the file in errors
    e.size = folder.sizes[k];
    e.content = survivors.content(k);
    one_folder.entries.push_back(entries.size());
    one_folder.unpack_size += e.size;
    entries.push_back(std::move(e));
    origins.push_back({false, builder.first_prepacked_file(index) + k, true});
  }
  compression_options quiet = options;  // compressed before: counted then
  quiet.progress = nullptr;
  archive_database part;
  folder_packer(out, part, quiet).pack(entries, {one_folder});
  builder.add_packed(part, origins);
}

appended_packing pack_prepacked_survivors_and_new_files(output_file& out, const commit_request& request,
                                                        const write_options& options, database_builder& builder,
                                                        const archive_snapshot* current,
                                                        std::optional<std::size_t> packed_already) {
  for (std::size_t k = 0; k < request.prepacked_folders.size(); ++k) {
    const auto& folder = request.prepacked_folders[k];
    if (!folder.keeps_all() && !folder.keeps_none()) {
      pack_prepacked_survivors(out, request, k, options.compression, builder);
    }
  }
  return pack_new_files(out, request, options, builder, current, packed_already);
}

bool pack_continued_in_place(output_file& out, const commit_request& request, std::size_t file,
                             const folder_continuation& from, const compression_options& options,
                             database_builder& builder) {
  archive_database part;
  folder_packer packer(out, part, options);
  if (!packer.pack_continued(request.new_files.at(file), from, true)) return false;
  const stream_origin origin{false, file};
  builder.add_packed(part, std::span(&origin, 1));
  return true;
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
