#pragma once
// Compresses files into 7z folders while they arrive, before any commit:
// the streaming half of a commit. Files are handed over one by one once
// they will not change ("sealed"); they join an open folder — batched: a
// folder of their own; solid: the open folder of their extension, as 7-Zip
// groups them, up to the solid block; hybrid: by size — whose input is cut
// into parts that a fixed set of workers compresses (dictionary-primed
// LZMA2 parts, see parallel_encoder.hpp: the ratio of one stream per
// folder; a worker that compressed a folder's previous part continues its
// stream instead, which saves the primer's pass over a dictionary, and parts
// too short to pay for that pass wait for it: see primer_cost). Packed bytes
// go to pending files beside the archive
// (ARCHIVE.pending.tmp-XXXXXX, 0600; removed when no longer used, and by
// remove_leftovers after a crash), a file per "lane": each lane holds one
// folder after another, contiguous, so a folder's packed bytes are one
// range. A commit finishes the open folders (finish), takes the finished
// ones (take) and has the appender copy their ranges into the archive
// (commit_request::packed_folders): a commit then costs O(new data + header)
// with no compression.
//
// A folder whose only file is abandoned before its compression ends (a large
// file removed or truncated meanwhile, see entry_content::abandoned) has its
// parts not started skipped: a commit waiting for the folder would otherwise
// wait for all of its compression. It is taken like any other, but its
// packed bytes must not be read: no file of the mount refers to it any
// more, so no commit copies it, and whoever still holds the file's bytes
// (a commit compressing the file itself) reads them, not this copy (the
// caller must not release abandoned bytes when they are reported encoded).
//
// Memory: a file's bytes are not copied: the workers read them through the
// entry's content, which must stay valid and unchanged until the file is
// reported encoded (then its packed bytes are in a pending file, readable
// through locate(), and the caller may release them). Backpressure: add()
// blocks while the input handed over and not yet written reaches
// max_input_bytes, and only while the encoders are behind (when one is idle
// it gets a part cut early instead). Besides that input, the object holds
// primers (a dictionary per open folder, per chain split off one, see
// split_point, and per part not yet started) and packed bytes of parts
// waiting for an earlier part of their folder.
//
// Errors (a compression failure, a pending file that cannot be written, a
// content shorter than its entry said) are sticky: every later call throws
// the first one as archive_error.
//
// Lock order: mutex_, then the worker pool's (jobs are submitted under
// mutex_), and whatever options.workers_allowed takes (the daemon's sealer
// window lock); compression and pending-file writes run without it.
#include "archive_layout.hpp"
#include "archive_snapshot.hpp"
#include "commit_request.hpp"
#include "entry.hpp"
#include "lzma2_encoder.hpp"
#include "output_file.hpp"
#include "pack_plan.hpp"
#include "parallel_encoder.hpp"
#include "pending_part.hpp"
#include "worker_pool.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace sevenzfs::archive {

struct pending_options {
  plan_options plan;
  int level = 5;         // 0: store
  unsigned threads = 1;  // workers
  // Longest part (0: four dictionaries, as parallel_encoder cuts them).
  std::uint64_t max_part_bytes = 0;
  // Input handed over and not yet written, at most (one larger file is let
  // through alone); 0: threads + 2 parts.
  std::uint64_t max_input_bytes = 0;
  // Solid folders open at once (one per extension); opening one more ends
  // the one least recently added to.
  std::size_t max_open_folders = 4;
  // What a primer's pass costs the match finder against compressing as many
  // bytes (see kPrimerPassCost). The parts of a folder that a
  // worker's stream will write on (it compressed the part before them) are
  // left to that worker unless it is busy and an idle worker taking the end
  // of that chain, from a part on, primed, makes both finish sooner than
  // that worker alone (split_point): the primer's pass (primer_cost x a
  // dictionary, or the folder's input before the part if shorter) must take
  // less than what the busy worker has ahead of the part, and the end x
  // (threads - 1) must be at least that pass. Shorter ends (a small pool's
  // parts) cost more primed in parallel than written on in one stream. 0:
  // split whenever that worker has input left ahead of the part and its
  // primer is at hand (see split_point).
  double primer_cost = kPrimerPassCost;
  // How many workers may compress at once now (empty: all; at least one
  // always may): the daemon leaves a core to its writers while they go on.
  // Asked under this object's lock when a worker is about to take a part,
  // when parts are cut early for idle workers or to relieve the input
  // bound, and every kTurnTick by a worker waiting for its turn; it must
  // not call into this object. While finish() or finish_folders_of() waits,
  // all workers compress.
  std::function<unsigned()> workers_allowed;
  // The first file's id: a compressor made after another one failed
  // continues its numbering, so an id the old one gave out (a file still
  // holding it) is never some other file's.
  pending_id first_id = 1;
};

// Where an encoded file can be read before it is committed.
struct pending_location {
  std::shared_ptr<const archive_snapshot> snapshot;
  std::uint64_t stream = 0;
};

// A folder whose packed bytes are all written, as a commit needs it. It is
// described by its snapshot's database (folder `index`, streams from
// `first_stream`: all its files are complete, so the snapshot has them), not
// by copies: a commit of a million one-file folders would hold them twice.
struct finished_folder {
  std::shared_ptr<const output_file> file;  // holds the packed bytes (the pending file lives while held)
  byte_range packed;                        // where in `file`
  small_vector<pending_id, 1> ids;          // its files, in substream order (a batched folder has one)
  // Reads these files until their commit is applied: stream first_stream + k is ids[k].
  std::shared_ptr<const archive_snapshot> snapshot;
  std::size_t index = 0;
  std::uint64_t first_stream = 0;

  const folder_info& folder() const { return snapshot->database().folders.at(index); }
  std::span<const std::uint64_t> sizes() const {
    return std::span(snapshot->database().substream_sizes).subspan(first_stream, ids.size());
  }
  std::span<const std::optional<std::uint32_t>> crcs() const {
    return std::span(snapshot->database().substream_crcs).subspan(first_stream, ids.size());
  }
};

// The folder as a commit takes it, its files shown as `files` (substream
// order; their content is not used; nullopt: dropped). The folder must
// outlive the commit.
prepacked_folder prepacked(const finished_folder& folder, std::vector<std::optional<entry>> files);

struct pending_progress {
  std::uint64_t handed_bytes = 0;     // input handed over since construction
  std::uint64_t written_bytes = 0;    // of it, compressed and written to pending files
  std::uint64_t packed_bytes = 0;     // packed bytes written
  std::uint64_t in_flight_bytes = 0;  // handed over, not yet written
  // Parts after the first of their folder: started from a primer, or written
  // on in the stream of the part before.
  std::uint64_t primed_parts = 0;
  std::uint64_t continued_parts = 0;
  // Parts whose input was found incompressible early (shrink_probe.hpp).
  std::uint64_t given_up_parts = 0;
  // Parts skipped: their folder's only file was abandoned (removed or
  // changed while it waited), see entry_content::abandoned.
  std::uint64_t abandoned_parts = 0;
};

struct pending_folder_record;
struct pending_lane;

class pending_folders {
 public:
  using encoded_callback = std::function<void(pending_id)>;

  // `encoded` (may be empty) runs on a worker thread, without locks held,
  // once a file's packed bytes are all written.
  pending_folders(std::string archive_path, pending_options options, encoded_callback encoded = {});
  // Cancels: parts not started are skipped, workers are joined, pending
  // files no finished_folder holds are removed.
  ~pending_folders();
  pending_folders(const pending_folders&) = delete;
  pending_folders& operator=(const pending_folders&) = delete;

  // Hands a sealed file over (e.size > 0, e.content set; e.path picks its
  // folder and names it in errors). Blocks only while the input in flight
  // is at its bound.
  pending_id add(const entry& e);
  // Cuts every partly filled part, so that everything handed over is
  // encoded soon (for a reader waiting for a file); folders stay open.
  void flush();
  // The caller is short of memory: if a worker is idle, it gets the fullest
  // partly filled part (as add() does while it waits for the input bound).
  void relieve();
  // Ends every open folder and waits until every part cut so far is written.
  void finish();
  // Ends the open folders holding these files (those not here, taken
  // already or unknown, are passed over) and waits until the folders are
  // written, with those before them in their lanes: an fsync of one file
  // waits for its folder, not for everything in flight.
  void finish_folders_of(std::span<const pending_id> ids);
  // Throws the first failure (sticky) if a worker failed since; nothing
  // else is done.
  void check() const;
  // Idle workers give their encoders' memory back (185 MiB each at level 5):
  // for when nothing more is coming, before a last commit compresses its
  // header with encoders of its own, or at rest. A worker busy meanwhile keeps its
  // encoder; a released one allocates again when it next compresses.
  // Returns how many gave memory back (an encoder released before and not
  // used since has none).
  std::size_t release_idle_encoders();
  // The folders written and not yet taken, per lane in file order; their
  // files are no longer located here.
  std::vector<finished_folder> take();

  // Where `id` can be read, once it is encoded and until it is taken.
  std::optional<pending_location> locate(pending_id id);

  pending_progress progress() const;
  // The id the next file handed over gets.
  pending_id next_id() const;
  // The most input in flight at once so far, and the most primer and
  // packed bytes held (for tests of the bounds).
  std::uint64_t peak_input_bytes() const;
  std::uint64_t peak_buffer_bytes() const noexcept { return buffers_.peak(); }
  std::uint64_t max_input_bytes() const noexcept { return max_input_; }
  // The part length of solid folders.
  std::uint64_t part_bytes() const noexcept { return solid_part_bytes_; }

 private:
  struct file_place {
    pending_lane* lane = nullptr;
    std::shared_ptr<pending_folder_record> folder;
    std::size_t index = 0;
  };

  void throw_if_failed() const;
  // Someone waits for compression (finish, finish_folders_of): every worker
  // may compress (workers_allowed is not asked) until `done` or a failure,
  // which it throws.
  void wait_with_all_workers(std::unique_lock<std::mutex>& lock, const std::function<bool()>& done);
  void place(const entry& e, pending_id id, bool batched);
  pending_lane& lane_for_solid(std::string_view extension);
  void open_folder(pending_lane& lane, const entry& first, bool batched);
  void end_folder(pending_lane& lane);
  // Returns the part's sequence.
  std::uint64_t cut(pending_lane& lane, bool last);
  // Groups the files a solid lane's next part holds whole by directory.
  void order_filling(pending_lane& lane);
  void relieve_pressure();
  void keep_workers_busy();
  // The lane's next part needs no primer: its folder's first, or one that
  // continues an idle worker's stream.
  bool starts_free(const pending_lane& lane) const;
  pending_lane& new_lane(bool batched);
  void run_next(std::size_t worker, bool forwarded);
  bool abandons(pending_part& part);
  unsigned workers_allowed() const;
  void wait_for_turn(std::unique_lock<std::mutex>& lock);
  static constexpr std::chrono::milliseconds kTurnTick{100};
  struct taken_part {
    pending_lane* lane = nullptr;
    pending_part* part = nullptr;  // null: left to the worker `forward_to`
    std::size_t forward_to = 0;
    // Taken ahead of parts not started: the pieces of the last of those, from
    // which the worker makes the part's primer (the lane is not written
    // meanwhile).
    bool ahead = false;
    std::vector<pending_piece> primer_from;
  };
  taken_part take_ready(std::size_t worker);
  std::optional<std::uint64_t> split_point(const pending_part& front, std::size_t owner) const;
  void take_ahead(pending_part& part, taken_part& taken);
  void write_finished(pending_lane& lane, std::unique_lock<std::mutex>& lock);
  const std::shared_ptr<const archive_snapshot>& lane_snapshot(pending_lane& lane);
  std::shared_ptr<const archive_snapshot> snapshot_of(const pending_lane& lane, std::size_t folders) const;
  folder_info describe(const pending_folder_record& folder, std::shared_ptr<const folder_graph>& last) const;

  std::string archive_path_;
  pending_options options_;
  encoded_callback encoded_;
  // Parts of large batched files are cut at part_bytes_, which also sizes
  // the input bound; solid folders at a dictionary (at most part_bytes_): a
  // worker writes on through its folder's parts for free, and an idle one
  // can take the end of that chain (split_point) within a part of where
  // both finish together. 10,000 blob-cache files of one extension
  // (100.6 MB) in 64 MiB parts were compressed mostly by one worker, 34-45 s
  // end to end; in 16 MiB parts split, 24-32 s.
  std::uint64_t part_bytes_ = 0;
  std::uint64_t solid_part_bytes_ = 0;
  std::uint64_t max_input_ = 0;
  memory_meter buffers_;
  std::vector<std::unique_ptr<lzma2_encoder>> encoders_;

  // Where a worker's encoder stream stands: after part `next_part - 1` of
  // `folder` (null: nowhere a part can continue).
  struct worker_stream {
    std::shared_ptr<const pending_folder_record> folder;
    std::uint64_t next_part = 0;
    bool continued_by(const pending_part& part) const { return folder == part.folder && next_part == part.index; }
  };
  // A lane whose waiting input the worker whose stream is `own` can cut and
  // compress without a primer (null: none).
  pending_lane* filling_free_for(const worker_stream& own) const;
  struct ready_part {
    pending_lane* lane = nullptr;
    pending_part* part = nullptr;
  };

  mutable std::mutex mutex_;
  std::condition_variable changed_;  // a part finished or was written, or an error
  std::vector<std::unique_ptr<pending_lane>> lanes_;
  std::unordered_map<pending_id, file_place> files_;
  std::set<std::uint64_t> unwritten_;          // sequences of parts cut and not yet written
  std::map<std::uint64_t, ready_part> ready_;  // cut and not started, by sequence
  std::vector<worker_stream> streams_;         // per worker
  std::vector<bool> compressing_;              // per worker: its encoder is in use
  std::vector<const pending_part*> current_;   // per worker: the part it compresses (null: none)
  std::vector<unsigned> forwarded_;            // per worker: jobs other workers handed it, not started
  pending_id next_id_ = 1;
  std::uint64_t next_sequence_ = 0;
  std::uint64_t clock_ = 0;  // orders solid folders by last use
  unsigned running_ = 0;     // parts cut and not finished
  pending_progress progress_;
  std::uint64_t peak_input_ = 0;
  std::exception_ptr error_;
  bool cancelled_ = false;
  unsigned finishing_ = 0;  // callers in wait_with_all_workers: workers_allowed is not asked

  // Declared last: destroyed (joined) first, before what its jobs use.
  worker_pool pool_;
};

}  // namespace sevenzfs::archive
