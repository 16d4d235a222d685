#include "archive/archive_model.hpp"

#include "archive/cached_reader.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace sevenzfs::test {

using namespace sevenzfs::archive;

entry text_entry(std::string path, const std::string& text) {
  entry e;
  e.path = std::move(path);
  e.mode = 0644;
  e.mtime = {1'700'000'000, 0};
  e.size = text.size();
  if (!text.empty()) e.content = std::make_shared<memory_content>(std::string_view(text));
  return e;
}

entry directory_entry(std::string path) {
  entry e;
  e.path = std::move(path);
  e.kind = entry_kind::directory;
  e.mode = 0755;
  e.mtime = {1'700'000'000, 0};
  return e;
}

std::string sample_text(const std::string& seed, std::size_t bytes) {
  std::string text;
  std::uint64_t state = std::hash<std::string>{}(seed) | 1;
  while (text.size() < bytes) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    text += seed + " line " + std::to_string(state >> 44) + " of something worth keeping\n";
  }
  text.resize(bytes);
  return text;
}

std::string read_stream(const archive_snapshot& snapshot, std::uint64_t stream) {
  cached_reader reader;
  std::string text(snapshot.substream(stream).size, '\0');
  const std::size_t n =
      reader.read(snapshot, stream, 0, std::span(reinterpret_cast<std::uint8_t*>(text.data()), text.size()));
  text.resize(n);
  return text;
}

archive_model::archive_model(std::filesystem::path path, write_options options)
    : path_(std::move(path)), options_(std::move(options)) {
  reopen();
}

void archive_model::reopen() { appender_ = std::make_unique<archive_appender>(path_.string(), options_); }

commit_request archive_model::request_for(const change& what) const {
  commit_request request;
  for (std::uint64_t stream = 0; stream < stream_path_.size(); ++stream) {
    const std::string& path = stream_path_[stream];
    if (!shown_.contains(path) || std::ranges::count(what.drop, path) > 0) continue;
    kept_stream kept{stream, {}};
    for (const auto& [from, to] : what.rename) {
      if (from == path) kept.shown = std::make_shared<const entry>(text_entry(to, ""));
    }
    request.kept_streams.push_back(std::move(kept));
  }
  for (const auto& d : directories) request.entries_without_data.push_back(directory_entry(d));
  for (const auto& [path, text] : what.add) request.new_files.push_back(text_entry(path, text));
  request.compact = what.compact;
  return request;
}

commit_result archive_model::commit(const change& what) {
  const commit_request request = request_for(what);
  const commit_result result = appender_->commit(request);
  std::vector<std::string> now(appender_->stream_count());
  std::set<std::string> shown;
  EXPECT_EQ(result.kept_index.size(), request.kept_streams.size());
  for (std::size_t k = 0; k < request.kept_streams.size() && k < result.kept_index.size(); ++k) {
    const auto& kept = request.kept_streams[k];
    std::string path = stream_path_[kept.stream];
    if (kept.shown) {
      content[kept.shown->path] = content.at(path);
      path = kept.shown->path;
    }
    now.at(result.kept_index[k]) = path;
    shown.insert(path);
  }
  EXPECT_EQ(result.kept_anyway.size(), result.kept_anyway_index.size());
  for (std::size_t k = 0; k < result.kept_anyway.size() && k < result.kept_anyway_index.size(); ++k) {
    now.at(result.kept_anyway_index[k]) = stream_path_.at(result.kept_anyway[k]);
  }
  EXPECT_EQ(result.stream_index.size(), what.add.size());
  for (std::size_t k = 0; k < what.add.size() && k < result.stream_index.size(); ++k) {
    const auto& [path, text] = what.add[k];
    content[path] = text;
    now.at(result.stream_index[k]) = path;
    shown.insert(path);
  }
  // Every stream accounted for, and each holds what the model expects.
  for (std::uint64_t stream = 0; stream < now.size(); ++stream) {
    EXPECT_FALSE(now[stream].empty()) << "stream " << stream << " is not accounted for";
    if (now[stream].empty()) continue;
    EXPECT_TRUE(read_stream(*appender_->snapshot(), stream) == content.at(now[stream]))
        << "stream " << stream << " (" << now[stream] << ") has other content";
  }
  stream_path_ = std::move(now);
  shown_ = std::move(shown);
  return result;
}

expected_tree archive_model::tree() const {
  expected_tree tree;
  tree.directories = directories;
  for (const auto& path : stream_path_) tree.files[path] = content.at(path);
  return tree;
}

}  // namespace sevenzfs::test
