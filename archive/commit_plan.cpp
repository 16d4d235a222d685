#include "commit_plan.hpp"

#include "archive_error.hpp"
#include "file_attributes.hpp"

#include <algorithm>

namespace sevenzfs::archive {

std::size_t commit_plan::count(folder_fate fate) const noexcept {
  return static_cast<std::size_t>(std::ranges::count(fates, fate));
}

std::size_t commit_plan::kept_prefix() const noexcept {
  const auto first_other = std::ranges::find_if(fates, [](folder_fate f) { return f != folder_fate::kept; });
  return static_cast<std::size_t>(first_other - fates.begin());
}

commit_plan plan_commit(const archive_database& db, const commit_request& request,
                        const std::function<bool(std::size_t)>& undecodable) {
  commit_plan plan;
  plan.request_of_stream.assign(db.substream_sizes.size(), commit_plan::kDropped);
  for (std::size_t k = 0; k < request.kept_streams.size(); ++k) {
    plan.request_of_stream.at(request.kept_streams[k].stream) = k;
  }
  std::uint64_t first = 0;
  for (std::size_t folder = 0; folder < db.folders.size(); ++folder) {
    const std::uint64_t count = db.substream_counts.at(folder);
    std::uint64_t kept = 0;
    for (std::uint64_t s = first; s < first + count; ++s) kept += plan.stream_kept(s) ? 1 : 0;
    folder_fate fate = folder_fate::reencoded;
    if (kept == count) {
      fate = folder_fate::kept;
    } else if (kept == 0) {
      fate = folder_fate::dead;
    } else if (undecodable(folder)) {
      // Its kept files cannot be separated from the dropped ones.
      fate = folder_fate::kept;
      for (std::uint64_t s = first; s < first + count; ++s) {
        if (!plan.stream_kept(s)) plan.kept_anyway.push_back(s);
      }
    }
    plan.fates.push_back(fate);
    plan.first_stream.push_back(first);
    first += count;
  }
  return plan;
}

database_builder::database_builder(const archive_database& old, const commit_request& request, const commit_plan& plan)
    : old_(old),
      request_(request),
      plan_(plan),
      now_of_archived_(old.substream_sizes.size(), kAbsent),
      now_of_new_(request.new_files.size(), kAbsent) {
  first_prepacked_.reserve(request.prepacked_folders.size());
  for (const auto& folder : request.prepacked_folders) {
    first_prepacked_.push_back(now_of_prepacked_.size());
    now_of_prepacked_.resize(now_of_prepacked_.size() + folder.files.size(), kAbsent);
  }
  // What the archive had and what the commit brings, so that a commit of
  // many files does not hold these twice while they grow (the folders of
  // files the commit compresses itself are not known yet: those may still
  // grow the folder lists).
  const std::size_t folders = old.folders.size() + request.prepacked_folders.size();
  const std::size_t streams = old.substream_sizes.size() + now_of_prepacked_.size() + request.new_files.size();
  db_.pack_sizes.reserve(old.pack_sizes.size() + request.prepacked_folders.size());
  db_.folders.reserve(folders);
  db_.substream_counts.reserve(folders);
  db_.substream_sizes.reserve(streams);
  db_.substream_crcs.reserve(streams);
  // The entries without data are the request's whole list of them, the
  // archive's own included.
  db_.files.reserve(streams + request.entries_without_data.size());
  std::size_t pack = 0;
  for (const auto& folder : old.folders) {
    first_pack_.push_back(pack);
    pack += folder.packed_streams().size();
  }
  for (std::size_t i = 0; i < old.files.size(); ++i) {
    if (old.files[i].has_stream) file_of_stream_.push_back(i);
  }
  if (file_of_stream_.size() != old.substream_sizes.size()) {
    throw archive_error(error_kind::corrupt_archive, "", "the archive's files do not match its streams");
  }
}

file_info database_builder::describe_archived(std::uint64_t stream) const {
  const file_info& was = old_.files[file_of_stream_.at(stream)];
  const std::size_t k = plan_.request_of_stream.at(stream);
  file_info info = k != commit_plan::kDropped && request_.kept_streams[k].shown
                       ? describe_entry(*request_.kept_streams[k].shown)
                       : was;
  info.has_stream = true;
  // An entry carries no creation or access time: keep the header's.
  info.ctime = was.ctime;
  info.atime = was.atime;
  return info;
}

void database_builder::add_archived_folder(std::size_t folder) {
  const std::size_t packs = old_.folders.at(folder).packed_streams().size();
  const auto pack_begin = old_.pack_sizes.begin() + static_cast<std::ptrdiff_t>(first_pack_[folder]);
  db_.pack_sizes.insert(db_.pack_sizes.end(), pack_begin, pack_begin + static_cast<std::ptrdiff_t>(packs));
  db_.folders.push_back(old_.folders[folder]);
  const std::uint64_t count = old_.substream_counts[folder];
  db_.substream_counts.push_back(count);
  const std::uint64_t first = plan_.first_stream.at(folder);
  for (std::uint64_t s = first; s < first + count; ++s) {
    now_of_archived_[s] = db_.substream_sizes.size();
    db_.substream_sizes.push_back(old_.substream_sizes[s]);
    db_.substream_crcs.push_back(old_.substream_crcs[s]);
    db_.files.push_back(describe_archived(s));
  }
}

void database_builder::add_packed(const archive_database& part, std::span<const stream_origin> origins) {
  if (origins.size() != part.substream_sizes.size()) {
    throw archive_error(error_kind::invalid_input, "", "packed streams and their origins do not match");
  }
  db_.pack_sizes.insert(db_.pack_sizes.end(), part.pack_sizes.begin(), part.pack_sizes.end());
  db_.folders.insert(db_.folders.end(), part.folders.begin(), part.folders.end());
  db_.substream_counts.insert(db_.substream_counts.end(), part.substream_counts.begin(), part.substream_counts.end());
  for (std::size_t k = 0; k < origins.size(); ++k) {
    const auto& origin = origins[k];
    auto& now = origin.prepacked  ? now_of_prepacked_.at(origin.index)
                : origin.archived ? now_of_archived_.at(origin.index)
                                  : now_of_new_.at(origin.index);
    now = db_.substream_sizes.size();
    db_.substream_sizes.push_back(part.substream_sizes[k]);
    db_.substream_crcs.push_back(part.substream_crcs[k]);
    db_.files.push_back(origin.prepacked  ? describe_prepacked(origin.index)
                        : origin.archived ? describe_archived(origin.index)
                                          : describe_entry(request_.new_files[origin.index]));
  }
}

file_info database_builder::describe_prepacked(std::uint64_t file) const {
  const auto next = std::ranges::upper_bound(first_prepacked_, file);
  const auto folder = static_cast<std::size_t>(next - first_prepacked_.begin()) - 1;
  const auto& shown = request_.prepacked_folders.at(folder).files.at(file - first_prepacked_[folder]);
  if (!shown) throw archive_error(error_kind::invalid_input, "", "a dropped prepacked file was packed");
  file_info info = describe_entry(*shown);
  info.has_stream = true;
  return info;
}

void database_builder::add_prepacked(std::size_t index) {
  const prepacked_folder& folder = request_.prepacked_folders.at(index);
  db_.pack_sizes.push_back(folder.size);
  db_.folders.push_back(*folder.folder);
  db_.substream_counts.push_back(folder.sizes.size());
  for (std::size_t k = 0; k < folder.sizes.size(); ++k) {
    now_of_prepacked_.at(first_prepacked_[index] + k) = db_.substream_sizes.size();
    db_.substream_sizes.push_back(folder.sizes[k]);
    db_.substream_crcs.emplace_back(folder.crcs[k]);
    db_.files.push_back(describe_prepacked(first_prepacked_[index] + k));
  }
}

archive_database database_builder::finish(std::uint64_t pack_position, commit_result& result) && {
  db_.pack_position = db_.folders.empty() ? 0 : pack_position;
  for (const auto& e : request_.entries_without_data) db_.files.push_back(describe_entry(e));
  const auto now = [this](std::uint64_t stream) {
    const std::uint64_t index = now_of_archived_.at(stream);
    if (index == kAbsent) throw archive_error(error_kind::invalid_input, "", "a kept stream was left out");
    return index;
  };
  result.kept_index.clear();
  for (const auto& kept : request_.kept_streams) result.kept_index.push_back(now(kept.stream));
  result.kept_anyway_index.clear();
  for (auto stream : result.kept_anyway) result.kept_anyway_index.push_back(now(stream));
  result.stream_index = now_of_new_;
  result.prepacked_index = now_of_prepacked_;
  return std::move(db_);
}

}  // namespace sevenzfs::archive
