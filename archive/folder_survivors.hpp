#pragma once
// The content of the files a folder keeps when it loses others, decoded from
// the committed snapshot so that they can be compressed again. The survivors
// of one folder share one decoder: read in their order (as folder_packer
// reads them), they decode the folder once, linearly, skipping the dropped
// files between them. A survivor read again (a folder stored uncompressed
// after all) starts a new decoder. Each survivor's CRC is checked against
// the header's, so damage is never compressed into a fresh, valid-looking
// folder.
//
// Not thread-safe: one thread reads the survivors of a folder at a time.
#include "archive_snapshot.hpp"
#include "entry.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace sevenzfs::archive {

class folder_survivors {
 public:
  folder_survivors(std::shared_ptr<const archive_snapshot> snapshot, std::size_t folder);

  // The content of `stream` (a stream of this folder, global index).
  std::shared_ptr<const entry_content> content(std::uint64_t stream) const;
  // Whether decoding failed (damaged data, a decoder refused): the folder
  // then cannot lose files. Errors writing what was read are not counted.
  bool failed() const noexcept;

 private:
  struct state;
  class survivor;
  std::shared_ptr<state> state_;
};

}  // namespace sevenzfs::archive
