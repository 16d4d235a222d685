#pragma once
// An archive whose only file, `log.txt`, grows by appends from one commit to
// the next (folder_continuation_test, continuation_in_place_test).
#include "archive/archive_appender.hpp"

#include "archive/archive_model.hpp"
#include "test_support.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sevenzfs::test {

// Batched, with parts short enough that appended bytes make several.
inline archive::write_options options_with(int level, unsigned threads,
                                           archive::pack_mode mode = archive::pack_mode::batched) {
  archive::write_options options;
  options.plan.mode = mode;
  options.compression.level = level;
  options.compression.threads = threads;
  options.compression.max_part_bytes = 40'000;  // several parts for the appended bytes
  return options;
}

// `log.txt` holds `before` after the first commit; grow() commits it with
// new content, naming it an appended file of the stream `first` made.
struct grown_log {
  temp_dir dir;
  std::filesystem::path path = dir / "a.7z";
  std::unique_ptr<archive::archive_appender> appender;
  archive::commit_result first;

  grown_log(const archive::write_options& options, const std::string& before) {
    appender = std::make_unique<archive::archive_appender>(path.string(), options);
    archive::commit_request request;
    request.new_files.push_back(text_entry("log.txt", before));
    first = appender->commit(request);
  }

  archive::commit_result grow(const std::string& now, std::vector<archive::kept_stream> kept = {}) {
    return grow(text_entry("log.txt", now), std::move(kept));
  }
  archive::commit_result grow(archive::entry now, std::vector<archive::kept_stream> kept = {}) {
    archive::commit_request request;
    request.kept_streams = std::move(kept);
    request.new_files.push_back(std::move(now));
    request.appended_files.push_back({0, first.stream_index.at(0)});
    return appender->commit(request);
  }

  std::uint64_t pack_size_of_stream(std::uint64_t stream) const {
    const auto& snapshot = *appender->snapshot();
    return snapshot.folder(snapshot.substream(stream).folder).packs.front().size;
  }
};

}  // namespace sevenzfs::test
