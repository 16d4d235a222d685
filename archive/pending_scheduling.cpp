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
// to it (it writes on at once, for free); else the oldest one worth priming
// beside its busy worker (worth_priming) is taken; else the job goes to a
// busy worker whose stream one continues, preferably one that has no job
// forwarded yet, so that each runs its part as soon as it is free. Only a
// folder's oldest part not started is taken, so its primer is on its way.
// The scan passes over at most the parts in flight of solid folders and one
// part per other worker.
pending_folders::taken_part pending_folders::take_ready(std::size_t worker) {
  worker_stream own = std::move(streams_[worker]);
  std::optional<std::uint64_t> chosen;
  if (own.folder && !own.folder->ready.empty() && own.continued_by(*ready_.at(own.folder->ready.front()).part)) {
    chosen = own.folder->ready.front();
  }
  std::optional<std::uint64_t> oldest;  // continuing another worker's stream
  std::size_t oldest_owner = 0;
  std::optional<std::uint64_t> primable;
  std::optional<std::size_t> idle_owner;
  std::optional<std::size_t> unforwarded_owner;
  for (auto it = ready_.begin(); !chosen && it != ready_.end(); ++it) {
    const pending_part& part = *it->second.part;
    if (part.folder->ready.front() != it->first) continue;  // its predecessor waits too
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
    if (!primable && worth_priming(part, owner)) primable = it->first;
    if (!unforwarded_owner && forwarded_[owner] == 0) unforwarded_owner = owner;
  }
  if (!chosen && (cancelled_ || error_)) chosen = oldest;  // skipped, not compressed
  if (!chosen && !idle_owner) chosen = primable;
  if (!chosen) {
    streams_[worker] = std::move(own);
    const std::size_t to = idle_owner.value_or(unforwarded_owner.value_or(oldest_owner));
    ++forwarded_[to];
    return {.forward_to = to};
  }
  const auto taken = ready_.find(*chosen);
  const auto [lane, part] = taken->second;
  ready_.erase(taken);
  part->folder->ready.erase(part->folder->ready.begin());
  part->continues = own.continued_by(*part);
  // Where the stream will stand once this part is done, so that other
  // workers leave the next part to this one.
  const bool continuable = !part->last && options_.level > 0;
  streams_[worker] = continuable ? worker_stream{part->folder, part->index + 1} : worker_stream{};
  return {lane, part};
}

// Beside a busy worker whose stream the part continues, priming it on
// another is faster than leaving it to that stream only for a part long
// enough against its primer's pass (pending_options::primer_cost), and only
// while that worker has at least as much left of the part before: else it
// would start this one before the primer's pass is done (10,000 blob-cache
// files: a 20 MB part primed for 4.8 s, 0.8 s before its stream's worker
// was free, ended 0.5 s later than that worker would have).
bool pending_folders::worth_priming(const pending_part& part, std::size_t owner) const {
  const double cost =
      options_.primer_cost * static_cast<double>(std::min<std::uint64_t>(part.options.dict_size, part.input_before));
  const pending_part* before = current_[owner];
  const double left =
      before == nullptr ? 0
                        : static_cast<double>(before->input_bytes - before->input_done.load(std::memory_order_relaxed));
  return static_cast<double>(part.input_bytes) * (options_.threads - 1) >= cost && left >= cost;
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
