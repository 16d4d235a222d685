#pragma once
// The committer's snapshot of the tree, shared by committer.cpp (the commit)
// and committer_snapshot.cpp (taking it and applying the result).
#include "committer.hpp"

#include "archive/commit_request.hpp"

#include <cstdint>
#include <vector>

namespace sevenzfs::fs {

// What a commit takes from the tree: the request, and which inodes the new
// streams and emptied entries belong to, with what tells whether they changed
// after the snapshot (the gate may be let go while the archive is written).
// The request goes to the archive; what applying the result needs of it is
// kept here.
struct committer::snapshot {
  archive::commit_request request;
  std::uint64_t generation = 0;
  struct file {
    inode_number number;
    std::uint64_t content_changes;  // inode::content_changes at the snapshot
    std::uint64_t size = 0;         // of the bytes committed
    // An fsync's file the streamer is still compressing: its sealed bytes
    // stay (file_content::committed_beside_streamer).
    bool beside_streamer = false;
  };
  std::vector<file> committed;              // request.new_files[k] is committed[k]'s content
  std::vector<std::uint64_t> kept_streams;  // request.kept_streams' stream numbers, in order
  std::vector<file> emptied;                // changed files committed as empty
  // Files in the streamer's finished folders: `flat` counts their files
  // folder after folder, as commit_result::prepacked_index does.
  struct streamed_file {
    inode_number number;
    archive::pending_id id;  // its sealed bytes'
    std::size_t flat;
    std::uint64_t size;
  };
  std::vector<streamed_file> streamed;
  bool left_changes = false;  // changed files still open for writing (or still compressing) wait
};

}  // namespace sevenzfs::fs
