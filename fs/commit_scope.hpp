#pragma once
// What a commit must take from the tree. Every commit also takes what costs
// it no compression — the streamer's finished folders (their packed bytes
// are copied), the namespace (directories, names, attributes), symlinks and
// closed empty files —; of a changed file it leaves out, the archive keeps
// its last committed copy (a file never committed stays out of it).
//
// An fsync lists its file: its commit compresses that file (or finishes the
// streamer's folder holding it: see filesystem::finish_folders_of) and does
// not wait for the compression of everything else written meanwhile (git's
// pack fsync behind a 266 MB `tar x` into the same mount waited 54-63 s for
// it, 2.4-2.8 s now).
#include "inode.hpp"

#include <vector>

namespace sevenzfs::fs {

struct commit_scope {
  enum class breadth {
    listed,        // the listed files
    closed_files,  // every file no one has open for writing (and the listed ones)
    everything,    // files still open for writing too
  };
  breadth reach = breadth::listed;
  std::vector<inode_number> listed;  // sorted, no duplicates: included whatever their state

  static commit_scope everything() { return {breadth::everything, {}}; }
  static commit_scope closed_files() { return {breadth::closed_files, {}}; }
  static commit_scope of(std::vector<inode_number> files);

  bool lists(inode_number number) const;
  // Every closed file is to be compressed: the streamer's open folders are
  // all finished before the commit.
  bool takes_closed_files() const noexcept { return reach != breadth::listed; }
  // Concurrent callers share one commit: it takes what any of them asked for.
  void merge(const commit_scope& other);
};

}  // namespace sevenzfs::fs
