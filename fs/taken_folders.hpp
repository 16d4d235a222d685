#pragma once
// The finished folders a commit took from the streamer, until it is applied,
// and where each of their files is, found by pending id. Both the streamer
// (reading a file back) and the commit's snapshot (matching inodes to
// substreams) ask that for every file; one sorted index of 16 bytes per
// file serves both, where a hash map node each cost about 64.
#include "archive/pending_folders.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace sevenzfs::fs {

class taken_folders {
 public:
  struct place {
    std::size_t folder = 0;  // in folders()
    std::size_t index = 0;   // of the file in that folder
    std::size_t flat = 0;    // of the file over all folders' files, in order
  };

  // Adds folders after those held (a failed commit's stay for the next).
  void append(std::vector<archive::finished_folder> folders);
  const std::vector<archive::finished_folder>& folders() const noexcept { return folders_; }
  // Storage held, in elements (for tests of clear()).
  std::size_t capacity() const noexcept { return folders_.capacity() + first_flat_.capacity() + by_id_.capacity(); }
  std::optional<place> find(archive::pending_id id) const;
  // Lets go of everything, storage included: a commit of a million files
  // must not leave their records' storage behind.
  void clear() noexcept;

 private:
  struct file_entry {
    archive::pending_id id = 0;
    std::size_t flat = 0;
  };
  std::vector<archive::finished_folder> folders_;
  std::vector<std::size_t> first_flat_;  // per folder: the flat index of its first file
  std::vector<file_entry> by_id_;        // ascending id
};

}  // namespace sevenzfs::fs
