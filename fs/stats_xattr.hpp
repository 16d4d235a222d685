#pragma once
// The mount's extended-attribute interface: live statistics on the root as
// user.sevenzfs.<name> values and one JSON document (user.sevenzfs.stats),
// control attributes that act (user.sevenzfs.flush, .compact, .unmount), and each file's state
// (user.sevenzfs.state). Values are rendered locale-free.
//
// getfattr asks for a value's size first and reads it in a second call; the
// value measured for the size is kept (briefly) and returned by the read, so
// the pair agrees even while the statistics move.
#include "committer.hpp"
#include "daemon_options.hpp"
#include "inode.hpp"
#include "inode_table.hpp"
#include "result.hpp"

#include "archive/cached_reader.hpp"
#include "pool/chunk_pool.hpp"

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sevenzfs::fs {

struct stat_value {
  std::string name;  // without the "user.sevenzfs." prefix
  std::string text;  // as getfattr shows it
  bool is_number = true;
};

// Renders `values` as one JSON object.
std::string stats_json(const std::vector<stat_value>& values);

// Where the figures come from.
struct stats_sources {
  const pool::chunk_pool& pool;
  const archive::cached_reader& reader;
  const commit_figures& commits;
  const streamer& streamed;
  const daemon_options& options;
  uid_t owner;  // the mount's owner: with root, the only one its controls obey
  std::chrono::steady_clock::time_point started;
};

// The value of user.sevenzfs.state for `node` (its lock held): a directory,
// staged, compressing or compressed (handed to the streamer), empty, or
// archived with its folder in `archived` (the archive state the tree refers
// to) and that folder's packed size.
std::string file_state_json(const inode& node, const archive::archive_snapshot* archived);

class stats_xattr {
 public:
  struct hooks {
    // user.sevenzfs.flush: commit everything, return when durable.
    std::function<result<void>()> flush;
    // user.sevenzfs.compact: commit everything, then write the archive anew
    // without dead bytes; return when durable.
    std::function<result<void>()> compact;
    // user.sevenzfs.unmount: commit everything, then unmount and exit.
    std::function<result<void>()> unmount;
    // A node's state as JSON, or nullopt when it has none (directories).
    std::function<result<std::optional<std::string>>(inode_number number)> file_state;
    std::function<tree_figures()> tree;
  };

  stats_xattr(stats_sources sources, hooks actions);

  // The root's controls (flush, compact, unmount) act. Setting one of the
  // root's statistics succeeds and changes nothing: they are listed, so
  // `rsync -aX` and `cp -a` of the mount's root copy them onto the copy, and
  // copying that back must not fail for them. Anything else is ENOTSUP.
  result<void> set(inode_number number, std::string_view name, std::string_view value, const caller& who);
  // `size_probe`: the caller asks for the size (getxattr with size 0).
  result<std::string> get(inode_number number, std::string_view name, bool size_probe);
  // The root's statistics; nothing for other nodes (their state is read by name).
  result<std::string> list(inode_number number);
  // Statistics and states are computed: removing one changes nothing and
  // succeeds (rsync -X removes what its source lacks); a name that is not
  // there is ENODATA. Nothing is computed ahead for a later get.
  result<void> remove(inode_number number, std::string_view name);

  std::vector<stat_value> values() const;

 private:
  result<std::string> root_value(std::string_view name, bool size_probe);
  // `name` is one of the root's statistics (or their JSON document).
  bool names_root_statistic(std::string_view name) const;

  stats_sources sources_;
  hooks hooks_;

  struct probed_value {
    std::string value;
    std::chrono::steady_clock::time_point when;
  };
  std::mutex probed_mutex_;
  std::unordered_map<std::string, probed_value> probed_;  // root values by name
};

}  // namespace sevenzfs::fs
