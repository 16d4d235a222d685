#include "pending_folders.hpp"

#include "pending_lane.hpp"

#include <algorithm>

// Which worker compresses which part, and when parts are cut early for idle
// workers: pending_folders' scheduling, under its mutex_.
namespace sevenzfs::archive {

// A worker with nothing to do gets a part cut early rather than wait for it
// to fill: first an eighth of a part where starting it costs no primer (a
// folder's first part, or one continuing an idle worker's stream), else a
// part half full (one too short to pay for its primer then waits for the
// worker whose stream it continues, see take_ready). Free parts first: a
// lane of another extension gave an idle worker nothing while the primed
// half of the lane ahead of it cost 1.5x its compression (10,000 blob-cache
// files: a 25 MB folder waited while a 32 MiB part was primed beside the
// first).
void pending_folders::keep_workers_busy() {
  const unsigned allowed = workers_allowed();
  const auto cut_lanes = [&](std::uint64_t eighths, bool free_only) {
    for (const auto& lane : lanes_) {
      if (running_ >= allowed) return;
      if (!lane->open || lane->filling_bytes == 0 || lane->filling_bytes < lane->part_bytes / 8 * eighths) continue;
      if (!free_only || starts_free(*lane)) cut(*lane, false);
    }
  };
  cut_lanes(1, true);
  cut_lanes(4, false);
}

bool pending_folders::starts_free(const pending_lane& lane) const {
  const auto& folder = *lane.open;
  if (folder.parts_cut == 0 || options_.level <= 0) return true;  // stored parts need no primer
  for (std::size_t worker = 0; worker < streams_.size(); ++worker) {
    const auto& stream = streams_[worker];
    if (!compressing_[worker] && stream.folder == lane.open && stream.next_part == folder.parts_cut) return true;
  }
  return false;
}

// Input waiting in a lane, at least an eighth of a part, that this worker
// (its stream `own`) can compress without a primer: the rest of the folder
// it wrote last, else the fullest folder not started (other idle workers'
// streams do not count, unlike starts_free: the part is this worker's).
// Taken before splitting a busy worker's chain (not before leaving a part to
// the idle worker whose stream it continues: that costs no primer either,
// and keeps the order in which folders are taken up; 10,000 blob-cache
// files, which leave the idle worker nothing to split, ended 1.07x later in
// four pairs of runs), whose primer pass costs
// 0.6-1 of compressing a dictionary (16 MiB at level 5): 30,000
// blob-cache files of two extensions through a 128 MiB pool, the idle
// worker split the larger folder's chain while the smaller one's input
// waited, three primers in all (the daemon's CPU 102-110 s, 61-64 s end to
// end, three runs); taking that input first, each worker kept a folder's
// stream, one primer at the end (88-99 s, 50-56 s). A worker that goes to a
// folder not started leaves its own folder's stream, as the free cuts of
// keep_workers_busy at the next add() would have.
pending_lane* pending_folders::filling_free_for(const worker_stream& own) const {
  pending_lane* fullest = nullptr;
  for (const auto& lane : lanes_) {
    if (!lane->open || lane->filling_bytes == 0 || lane->filling_bytes < lane->part_bytes / 8) continue;
    const auto& folder = *lane->open;
    if (own.folder == lane->open && own.next_part == folder.parts_cut) return lane.get();
    if (folder.parts_cut == 0 && (fullest == nullptr || lane->filling_bytes > fullest->filling_bytes)) {
      fullest = lane.get();
    }
  }
  return fullest;
}

// The encoders are behind only if they all have work: otherwise the input
// waiting in partly filled parts is what they need.
void pending_folders::relieve_pressure() {
  if (running_ >= workers_allowed()) return;
  pending_lane* fullest = nullptr;
  for (const auto& lane : lanes_) {
    if (lane->filling_bytes > 0 && (fullest == nullptr || lane->filling_bytes > fullest->filling_bytes)) {
      fullest = lane.get();
    }
  }
  if (fullest != nullptr) cut(*fullest, false);
}

// The part this worker compresses best: the one continuing its encoder's
// stream; else the oldest one no other encoder's stream continues (a folder's
// first part, or a part whose predecessor's stream was given up). Else every
// candidate continues another worker's stream: one of an idle worker is left
// to it (it writes on at once, for free); else a part cut early from a lane's
// input that this worker can start for free (filling_free_for; not while
// someone waits for folders, whose chains it should help with instead); else
// the first chain of a busy worker worth splitting (split_point) gives the
// part from which this one takes the rest; else the job goes to a busy
// worker whose stream one continues, preferably one that has no job
// forwarded yet, so that each runs its part as soon as it is free. Candidates are each folder's oldest part not
// started, whose primer is on its way (its predecessor has started) unless a split dropped it; a part split off later
// makes its own (take_ahead). The scan passes over at most the parts in flight of solid folders and one part per other
// worker.
pending_folders::taken_part pending_folders::take_ready(std::size_t worker) {
  worker_stream own = std::move(streams_[worker]);
  std::optional<std::uint64_t> chosen;
  if (own.folder) {
    // Not always the folder's oldest: its stream may write on the end split
    // off a chain that another worker is still going through.
    const auto& ready = own.folder->ready;
    const auto next = std::ranges::find_if(
        ready, [&](std::uint64_t sequence) { return own.continued_by(*ready_.at(sequence).part); });
    if (next != ready.end()) chosen = *next;
  }
  std::optional<std::uint64_t> oldest;  // continuing another worker's stream
  std::size_t oldest_owner = 0;
  std::optional<std::uint64_t> primable;
  std::optional<std::size_t> idle_owner;
  std::optional<std::size_t> unforwarded_owner;
  for (auto it = ready_.begin(); !chosen && it != ready_.end(); ++it) {
    const pending_part& part = *it->second.part;
    // Not its folder's oldest: its predecessor waits too, or it continues the
    // stream of a split-off end (take_ahead), whose worker takes it.
    if (part.folder->ready.front() != it->first) continue;
    const auto continuing =
        std::ranges::find_if(streams_, [&](const worker_stream& stream) { return stream.continued_by(part); });
    if (continuing == streams_.end()) {
      chosen = it->first;
      break;
    }
    const auto owner = static_cast<std::size_t>(continuing - streams_.begin());
    if (!oldest) {
      oldest = it->first;
      oldest_owner = owner;
    }
    if (!compressing_[owner]) {
      if (!idle_owner) idle_owner = owner;
      continue;
    }
    if (!primable) primable = split_point(part, owner);
    if (!unforwarded_owner && forwarded_[owner] == 0) unforwarded_owner = owner;
  }
  if (!chosen && (cancelled_ || error_)) chosen = oldest;  // skipped, not compressed
  if (!chosen && !idle_owner && finishing_ == 0) {
    if (pending_lane* lane = filling_free_for(own)) chosen = cut(*lane, false);  // its job takes another part
  }
  if (!chosen && !idle_owner) chosen = primable;
  if (!chosen) {
    streams_[worker] = std::move(own);
    const std::size_t to = idle_owner.value_or(unforwarded_owner.value_or(oldest_owner));
    ++forwarded_[to];
    return {.forward_to = to, .ahead = false, .primer_from = {}};
  }
  const auto taken = ready_.find(*chosen);
  const auto [lane, part] = taken->second;
  ready_.erase(taken);
  taken_part result{.lane = lane, .part = part, .ahead = false, .primer_from = {}};
  part->continues = own.continued_by(*part);
  auto& ready = part->folder->ready;
  const auto at = std::ranges::find(ready, *chosen);
  if (at != ready.begin() && !part->continues) take_ahead(*part, result);
  ready.erase(at);
  // Where the stream will stand once this part is done, so that other
  // workers leave the next part to this one.
  const bool continuable = !part->last && options_.level > 0;
  streams_[worker] = continuable ? worker_stream{part->folder, part->index + 1} : worker_stream{};
  return result;
}

// The part is taken ahead of its folder's parts not started before it:
// its primer comes from the pieces of the last of them, which holds its
// primer's bytes (split_point), and which the worker copies before it
// compresses. Those parts are left to the busy worker whose stream writes
// on through them, so none of them makes or keeps a primer, the first one's
// included (its predecessor's, made already): a second chain's primer
// beside the folder's would raise the daemon's peak (500 MB of small files
// through a 128 MiB pool: 51 MB of primers and packed parts held instead of
// 35, peak RSS 590 MiB instead of 578). Should one of them go to another
// worker after all, it starts a dictionary of its own; a later split makes
// its primer itself.
void pending_folders::take_ahead(pending_part& part, taken_part& taken) {
  const auto& ready = part.folder->ready;
  const auto at = std::ranges::find(ready, part.sequence);
  taken.primer_from = ready_.at(*(at - 1)).part->pieces;
  for (auto it = ready.begin(); it != at; ++it) {
    pending_part& kept = *ready_.at(*it).part;
    kept.primer_in.reset();
    kept.primer_out.reset();
  }
  part.primer_in.reset();
  ++taken.lane->making_primers;
  taken.ahead = true;
}

// `front`, its folder's oldest part not started, continues the stream of the
// busy worker `owner`, which will write on through the parts after it too
// (the chain). An idle worker taking the chain's end from some part on,
// primed, ends when its primer's pass (pending_options::primer_cost) and
// that end are done; the owner when its current part and the chain before
// that part are: the part whose split ends both soonest, if sooner than
// the owner alone and the end is long enough against its primer's pass (see
// primer_cost: at the end of the blob cache's two folders, a 6 MB end split
// off while finish() waited ended 1.6-1.9 s after the owner, which would
// have compressed it in 1.5 s). Times are counted in input bytes, the same
// on every worker.
// A part after the front is primed from the part before it alone, which
// must hold the primer's bytes: the parts left to the owner keep no primer
// (take_ahead), so one of them taken by another worker after all starts a
// dictionary of its own, and that reset must not fall within the primer
// (the decoder would lack what the primed part's matches refer to). The
// front needs the primer of the part before it, which an earlier split may
// have dropped. The front's split needs the owner to have more of its
// current part left than the primer's pass: else the owner would start the
// front before the primer's pass is done (10,000 blob-cache files: a 20 MB
// part primed for 4.8 s, 0.8 s before its stream's worker was free, ended
// 0.5 s later than that worker would have).
std::optional<std::uint64_t> pending_folders::split_point(const pending_part& front, std::size_t owner) const {
  const auto& ready = front.folder->ready;
  const pending_part* now = current_[owner];
  const double left =
      now == nullptr ? 0 : static_cast<double>(now->input_bytes - now->input_done.load(std::memory_order_relaxed));
  std::size_t chain = 0;
  double total = left;
  for (const auto sequence : ready) {
    const pending_part& part = *ready_.at(sequence).part;
    if (part.index != front.index + chain) break;  // the end of an earlier split: another stream's
    total += static_cast<double>(part.input_bytes);
    ++chain;
  }
  std::optional<std::uint64_t> best;
  double best_end = total;
  double ahead = left;
  for (std::size_t k = 0; k < chain; ++k) {
    const pending_part& part = *ready_.at(ready[k]).part;
    const double primer = static_cast<double>(std::min<std::uint64_t>(part.options.dict_size, part.input_before));
    const double pass = options_.primer_cost * primer;
    const double rest = total - ahead;
    const bool primer_at_hand =
        k == 0 ? part.primer_in != nullptr : static_cast<double>(ready_.at(ready[k - 1]).part->input_bytes) >= primer;
    const double end = std::max(ahead, pass + rest);
    if (primer_at_hand && rest * (options_.threads - 1) >= pass && end < best_end) {
      best = ready[k];
      best_end = end;
    }
    ahead += static_cast<double>(part.input_bytes);
  }
  return best;
}

unsigned pending_folders::workers_allowed() const {
  if (!options_.workers_allowed || finishing_ > 0) return options_.threads;
  return std::clamp(options_.workers_allowed(), 1u, options_.threads);
}

// The job's worker holds no part while it waits; a worker that finishes
// one, finish() and cancelling wake it.
void pending_folders::wait_for_turn(std::unique_lock<std::mutex>& lock) {
  while (!cancelled_ && !error_) {
    const auto busy = static_cast<unsigned>(std::ranges::count(compressing_, true));
    if (busy < workers_allowed()) return;
    changed_.wait_for(lock, kTurnTick);
  }
}

}  // namespace sevenzfs::archive
