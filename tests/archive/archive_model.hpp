#pragma once
// A small stand-in for the daemon's tree above an archive_appender: it knows
// which path each archived stream is shown as, builds commit requests from
// "drop these, rename those, add these", and checks every result against
// the content it expects (kept_index and stream_index read back through the
// new snapshot).
#include "archive/archive_appender.hpp"
#include "archive/archive_checks.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sevenzfs::test {

archive::entry text_entry(std::string path, const std::string& text);
archive::entry directory_entry(std::string path);
// Compressible text, distinct per `seed`, of about `bytes` bytes.
std::string sample_text(const std::string& seed, std::size_t bytes);

struct change {
  std::vector<std::string> drop;                            // archived paths to remove
  std::vector<std::pair<std::string, std::string>> rename;  // archived path -> new path
  std::vector<std::pair<std::string, std::string>> add;     // new path -> content
  bool compact = false;
};

class archive_model {
 public:
  archive_model(std::filesystem::path path, archive::write_options options);

  archive::archive_appender& appender() { return *appender_; }
  const std::filesystem::path& path() const { return path_; }
  // Reopens the archive from disk (a remount).
  void reopen();

  // Commits the change and checks what the result says against the content
  // the model expects, read back through the new snapshot.
  archive::commit_result commit(const change& what);
  // The request `what` makes (without committing it).
  archive::commit_request request_for(const change& what) const;

  // The tree the archive must hold: the files shown plus dropped files that
  // were kept anyway.
  expected_tree tree() const;
  const std::vector<std::string>& stream_paths() const { return stream_path_; }

  std::map<std::string, std::string> content;  // every path ever committed -> its content
  std::set<std::string> directories;

 private:
  std::filesystem::path path_;
  archive::write_options options_;
  std::unique_ptr<archive::archive_appender> appender_;
  std::vector<std::string> stream_path_;  // per archived stream: the path it is listed as
  std::set<std::string> shown_;           // paths of streams the tree shows
};

// Reads the whole of `stream` from `snapshot` through a cached_reader.
std::string read_stream(const archive::archive_snapshot& snapshot, std::uint64_t stream);

}  // namespace sevenzfs::test
