#pragma once
// A file's bytes, wherever they are: nowhere (empty), staged in the pool,
// spilled to an unlinked file beside the archive (a file that outgrew the
// pool while open for writing), held in memory (a symlink's target), sealed
// (handed to the streaming compressor: see sealed_bytes.hpp), or only in the
// archive. It also remembers which archive stream holds the file's
// last committed copy — as a snapshot of that archive state plus the
// stream's index in it — and whether the local bytes differ from it.
// Reading archived bytes decodes them through the cached reader; changing
// them (or sealed bytes) first copies them back into the pool (or a spill
// file): "re-staging". Writing at or past the end of a file only the archive
// holds (a log appended to after a remount) stages the new bytes only, when
// a commit can go on from the archived folder without decoding it (see
// folder_continuation.hpp): the local bytes then begin at the archived size,
// the file's start is still read from the archive, and the commit vouches
// for it instead of reading it (appended_content). Any other archived folder
// (PPMd, shared with other files, stored) is re-staged as before, so that
// no commit ever has to decode a start it may not be able to.
//
// Not thread-safe: the owning inode's lock serializes every call.
#include "archived_bytes.hpp"
#include "result.hpp"
#include "sealed_bytes.hpp"
#include "spill_file.hpp"

#include "archive/archive_snapshot.hpp"
#include "archive/cached_reader.hpp"
#include "archive/entry.hpp"
#include "pool/staging_store.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>

namespace sevenzfs::fs {

// What content operations need from the daemon.
struct content_services {
  pool::staging_store& store;
  archive::cached_reader& reader;
  std::string spill_prefix;  // spill files are created as <spill_prefix>.spill.tmp-XXXXXX
  pending_locator locate_pending;  // where sealed bytes are once released
  // The commits' compression level: whether they can go on from an archived
  // folder without decoding it, and the most they prime the encoder with.
  int level = 0;
};

class file_content {
 public:
  file_content() = default;
  // Content that only the archive holds.
  void set_archived(archived_bytes where);
  // A symlink's target, held in memory.
  void hold(std::string bytes);

  std::uint64_t size() const noexcept;
  // The local bytes differ from the archive's copy (or there is none yet).
  bool dirty() const noexcept { return dirty_; }
  // The archive's copy, if there is one.
  const std::optional<archived_bytes>& archived() const noexcept { return archived_; }
  // The stream index of the archive's copy in `snapshot`, if the copy is there.
  std::optional<std::uint64_t> stream_in(const archive::archive_snapshot* snapshot) const noexcept;
  // Only the archive holds the bytes: reads decode them.
  bool only_archived() const noexcept;
  // How many leading bytes are read from the archive's copy (all of them
  // when only the archive holds the file), which filesystem::read decodes
  // without the file's lock.
  std::uint64_t archived_prefix() const noexcept;
  // The local bytes begin after an archived start (a recovery save may not
  // be able to read it: see save_uncommitted).
  bool starts_in_archive() const noexcept { return prefix_ > 0; }
  // Bytes of pool memory this content holds (what spilling it would free).
  std::uint64_t staged_bytes() const noexcept;
  // The local bytes are the archive's copy followed by more: the file grew
  // by appends only since it was archived (a commit may then go on from the
  // archived folder rather than compress it all again).
  bool grew_from_archived() const noexcept;
  // Whether the next commit may drop the archive's copy, as any change,
  // removal or replacement of the file makes it do: fails (ENOTSUP, with
  // the reason) when no commit can (see undroppable), and the caller must
  // then leave the file as it is.
  result<void> replaceable() const;

  result<std::size_t> read(const content_services& services, std::uint64_t offset, std::span<std::byte> out) const;
  // Writes at `offset`; fewer bytes (maybe none) when the pool has no free
  // chunk at once: the caller makes room and writes the rest.
  result<std::size_t> write(content_services& services, std::uint64_t offset, std::span<const std::byte> data);
  result<void> truncate(content_services& services, std::uint64_t size);
  // Moves staged bytes to a spill file (throws archive_error on I/O failure).
  void spill(content_services& services);
  // Makes changed local bytes (staged or spilled, not empty) immutable for
  // the streaming compressor; nullptr when there is nothing to seal.
  std::shared_ptr<sealed_bytes> seal(const content_services& services);
  // How often seal() sealed it since a commit last took the file (at most
  // 255): a file written again after each (a log appended to by `>>`)
  // waits longer before the next (sealer::closed).
  unsigned seals_since_commit() const noexcept { return seals_since_commit_; }
  // The sealed bytes, if the content is sealed.
  const sealed_bytes* sealed() const noexcept;
  // Sealed bytes become staged ones again (copied from the pending copy if
  // released): the streamer is about to stop.
  result<void> unseal(content_services& services);

  // What a commit archives for this file: its bytes as the compressor reads
  // them, valid while the commit holds the file still.
  std::shared_ptr<const archive::entry_content> commit_source(const content_services& services,
                                                              const std::string& path) const;
  // The same, made immutable first: staged or spilled bytes are sealed for
  // the commit, so that it reads them without holding the file still (a
  // write meanwhile copies them back, as for any sealed file).
  std::shared_ptr<const archive::entry_content> freeze_for_commit(const content_services& services,
                                                                  const std::string& path);
  // Sealed for a commit that is still running.
  bool frozen() const noexcept;
  // Nothing changed since the last freeze for a commit (a change that
  // failed, such as a write into an archived start that cannot be read
  // back, changed nothing).
  bool unchanged_since_freeze() const noexcept { return changed_from_since_freeze_ == UINT64_MAX; }
  // Bytes sealed for a commit become staged (or spilled) ones again, without
  // a copy: the commit is over, or failed.
  void thaw();
  // The commit made `where` the archive's copy of these bytes (nullopt: the
  // file was committed empty). Local bytes are dropped unless `keep_local`
  // (bytes handed to the streamer are dropped all the same).
  void committed(std::optional<archived_bytes> where, bool keep_local);
  // The commit made `where` (the bytes it froze) the archive's copy, but the
  // file changed since. If only past that copy's end (a log written on
  // during the commit), the local bytes are that copy followed by more: it
  // becomes the archive's copy to continue from, and the bytes stay dirty.
  // Otherwise nothing changes.
  void committed_then_appended(archived_bytes where);
  // After committed(..., true) of a file that grew by appends (a log still
  // open): drops the local bytes the next commit will not read, all but the
  // last primer_bytes_at(services.level), when its folder can go on again
  // without decoding; they are read from the archive from then on. Memory
  // and spill space then stay bounded however long the log grows.
  void trim_committed(content_services& services);
  // The commit made `where` the archive's copy of the sealed bytes, which the
  // streamer has too (an fsync's file, committed before its folder was
  // finished): they stay sealed and the file dirty, so that a later commit
  // takes the streamer's copy, and the archive's gives way to it as to any
  // change (dead bytes until a compaction, rather than the streamer's whole
  // folder compressed again without the file).
  void committed_beside_streamer(archived_bytes where);
  // The archive's copy holds the sealed bytes (committed_beside_streamer):
  // an fsync of the file has nothing to add.
  bool archived_as_sealed() const noexcept;
  // The archive's copy moved (a later commit renumbered or rewrote it).
  void moved(archived_bytes where) noexcept { archived_ = std::move(where); }
  // True the first time it is asked after the content changed: a file that
  // cannot be read back is logged once, not at every read.
  bool first_report() noexcept { return !std::exchange(reported_, true); }

 private:
  struct nothing {};
  struct in_pool {
    pool::staged_file file;
  };
  struct on_disk {
    spill_file file;
    std::uint64_t size = 0;
  };
  struct held {
    std::string bytes;
  };
  // Letting go of bytes handed to the streamer (the file is removed or
  // changes) abandons them, so that their compression is skipped where it
  // can be: a commit need not wait for the compression of a removed file.
  struct sealed_local {
    std::shared_ptr<sealed_bytes> bytes;
    bool for_commit = false;  // sealed by a commit, not handed to the streamer

    explicit sealed_local(std::shared_ptr<sealed_bytes> sealed) noexcept : bytes(std::move(sealed)) {}
    sealed_local(sealed_local&& other) noexcept = default;  // leaves `other` holding nothing
    sealed_local& operator=(sealed_local&& other) noexcept {
      if (this != &other) {
        let_go();
        bytes = std::move(other.bytes);
        for_commit = other.for_commit;
      }
      return *this;
    }
    ~sealed_local() { let_go(); }
    void let_go() noexcept {
      if (bytes && !for_commit) bytes->abandon();
    }
  };
  // Makes the local bytes writable for a change of the bytes from
  // `changed_from` on that leaves `size_after` bytes: archived (or sealed)
  // bytes are copied back first, those past the archived start only when
  // the change appends; with none, an empty staged file.
  result<void> make_writable(content_services& services, std::uint64_t changed_from, std::uint64_t size_after);
  // Staged or spilled bytes become sealed ones (nullptr for any other content).
  std::shared_ptr<sealed_bytes> seal_local(const content_services& services);
  // Copies the file's bytes from `from` on into new local ones (from the
  // archive's copy before the current local bytes begin).
  result<void> restage(content_services& services, std::uint64_t from);
  result<std::size_t> read_local(const content_services& services, std::uint64_t offset,
                                 std::span<std::byte> out) const;
  // The local bytes' content, after the archived prefix if there is one.
  std::shared_ptr<const archive::entry_content> after_prefix(const content_services& services,
                                                             std::shared_ptr<const archive::entry_content> local) const;

  std::variant<nothing, in_pool, on_disk, held, sealed_local> local_;
  std::optional<archived_bytes> archived_;
  // The local bytes (staged, spilled or sealed) hold the file from this
  // offset on; before it, the file is the archive's copy's first bytes.
  std::uint64_t prefix_ = 0;
  // How many leading bytes of the file are known to equal the archive's copy's:
  // writes and truncations below it lower it.
  std::uint64_t same_as_archived_ = 0;
  // The lowest offset written or truncated to since the last freeze for a commit.
  std::uint64_t changed_from_since_freeze_ = UINT64_MAX;
  // While a commit runs that froze a file with an archived start: the size
  // it froze, which the commit's copy will have.
  std::uint64_t frozen_end_ = 0;
  // The sealed bytes' id when committed_beside_streamer made the archive's
  // copy theirs (sealed bytes are never changed, only replaced).
  archive::pending_id archived_sealed_id_ = 0;
  bool dirty_ = false;
  bool reported_ = false;
  std::uint8_t seals_since_commit_ = 0;  // saturates
};

}  // namespace sevenzfs::fs
