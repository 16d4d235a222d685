#include "streamer.hpp"

#include "archive/archive_error.hpp"

namespace sevenzfs::fs {

namespace {

archive::pending_options pending_options_of(const archive::write_options& write) {
  archive::pending_options options;
  options.plan = write.plan;
  options.level = write.compression.level;
  options.threads = write.compression.threads;
  options.max_part_bytes = write.compression.max_part_bytes;
  return options;
}

}  // namespace

streamer::streamer(std::string archive_path, const archive::write_options& write, logger& log)
    : log_(log), archive_path_(std::move(archive_path)), options_(pending_options_of(write)) {}

streamer::~streamer() {
  if (pending_) report(*pending_);
}

// One line on how the compressor worked, for whoever tunes it: parts after a
// folder's first either continued a worker's stream or paid for a primer;
// parts found incompressible were not compressed past their start (parts
// of several files: not at all).
void streamer::report(const archive::pending_folders& pending) const {
  const auto progress = pending.progress();
  if (progress.handed_bytes == 0) return;
  log_.info(
      "streaming compressor: {:.1f} MB in, {:.1f} MB packed; {} later parts continued a stream, {} primed; {} parts "
      "incompressible, {} skipped (their file was removed or changed); at most {:.1f} MB of packed parts and primers "
      "held",
      static_cast<double>(progress.handed_bytes) / 1e6, static_cast<double>(progress.packed_bytes) / 1e6,
      progress.continued_parts, progress.primed_parts, progress.given_up_parts, progress.abandoned_parts,
      static_cast<double>(pending.peak_buffer_bytes()) / 1e6);
}

std::unique_ptr<archive::pending_folders> streamer::make_pending(archive::pending_id first_id) {
  auto options = options_;
  options.workers_allowed = workers_allowed_;
  options.first_id = first_id;
  return std::make_unique<archive::pending_folders>(archive_path_, std::move(options),
                                                    [this](archive::pending_id id) { encoded(id); });
}

void streamer::start(std::function<unsigned()> workers_allowed) {
  workers_allowed_ = std::move(workers_allowed);
  auto pending = make_pending(next_id_);
  {
    std::unique_lock instance(instance_mutex_);
    pending_ = std::move(pending);
  }
  started_ = true;
}

void streamer::stop() {
  std::unique_ptr<archive::pending_folders> pending;
  {
    std::unique_lock instance(instance_mutex_);
    pending = std::move(pending_);
  }
  if (pending) report(*pending);
  started_ = false;
  pending.reset();  // joins its workers, removes its pending files
  std::lock_guard lock(mutex_);
  handed_.clear();
  taken_.clear();  // lets go of the last pending files
}

// The failed compressor is destroyed without any lock held: its workers'
// callbacks take mutex_, and a reader holding mutex_ may wait for
// instance_mutex_. Files it was handed are all committed by now, so
// nothing is located in it any more and its ids stay unused.
//
// A thread that was inside the failed compressor when it was taken away (a
// hand-over that began before the failure) holds the old generation: its
// failure or its file is then ignored.
void streamer::resume() {
  if (!resumable()) return;
  std::unique_ptr<archive::pending_folders> failed;
  {
    std::unique_lock instance(instance_mutex_);
    failed = std::move(pending_);
    ++generation_;
  }
  if (failed) {
    report(*failed);
    next_id_ = failed->next_id();
    failed.reset();  // joins its workers, removes its pending files
  }
  std::unique_ptr<archive::pending_folders> fresh;
  try {
    fresh = make_pending(next_id_);
  } catch (const std::exception& error) {
    log_.error("streaming compression could not start again ({}); tried again after the next commit", error.what());
    return;
  }
  {
    std::lock_guard lock(mutex_);
    handed_.clear();
    encoded_early_.clear();
    committed_bytes_ = 0;  // the new compressor counts from 0
  }
  {
    std::unique_lock instance(instance_mutex_);
    pending_ = std::move(fresh);
    broken_ = false;
  }
  log_.info("streaming compression resumed: closed files are compressed while others are copied in again");
}

void streamer::expect_hand_over() noexcept {
  std::lock_guard lock(mutex_);
  ++expected_hand_overs_;
}

void streamer::wait_for_hand_overs() {
  std::unique_lock lock(mutex_);
  handed_over_.wait(lock, [&] { return expected_hand_overs_ == 0; });
}

bool streamer::wait_for_a_hand_over(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (expected_hand_overs_ == 0) return false;
  const std::uint64_t seen = ended_hand_overs_;
  handed_over_.wait_for(lock, timeout, [&] { return ended_hand_overs_ != seen; });
  return true;
}

bool streamer::hand_over(const std::string& path, const std::shared_ptr<sealed_bytes>& bytes) {
  archive::pending_id id = 0;
  std::uint64_t generation = 0;
  if (streaming()) {
    archive::entry e;
    e.path = path;
    e.size = bytes->size();
    e.content = bytes;
    std::shared_lock instance(instance_mutex_);
    generation = generation_;
    try {
      if (pending_) {
        id = pending_->add(e);
        bytes->set_id(id);
      }
    } catch (const std::exception& error) {
      instance.unlock();
      failed(error, generation);
    }
  }
  bool released = false;
  {
    std::lock_guard lock(mutex_);
    // (Not when the compressor was replaced meanwhile: the file was
    // committed before, see resume.)
    if (id != 0 && generation == generation_.load()) {
      // Compressed before this thread got here: release now (below).
      released = encoded_early_.erase(id) > 0;
      if (!released) handed_.emplace(id, bytes);
    }
    --expected_hand_overs_;
    ++ended_hand_overs_;
    handed_over_.notify_all();
  }
  if (released) note_release(bytes);
  return id != 0;
}

// On a worker thread, once the file's packed bytes are all written.
void streamer::encoded(archive::pending_id id) {
  std::shared_ptr<sealed_bytes> bytes;
  {
    std::lock_guard lock(mutex_);
    const auto found = handed_.find(id);
    if (found == handed_.end()) {
      encoded_early_.insert(id);
      return;
    }
    bytes = found->second.lock();
    handed_.erase(found);
  }
  note_release(bytes);
}

// Gives back the file's memory (outside mutex_: release takes the bytes' own
// lock; gone already if the file changed since) and wakes writers waiting for room.
// Not abandoned bytes: their pending copy may lack the parts skipped, and a
// commit that compresses the file itself may still read them (it took them
// before the file changed); their last holder frees them.
void streamer::note_release(const std::shared_ptr<sealed_bytes>& bytes) {
  if (bytes && !bytes->abandoned()) bytes->release();
  std::lock_guard lock(mutex_);
  ++releases_;
  released_.notify_all();
}

// Calls `action` on the pending folders while streaming; a failure stops
// streaming (logged once by failed()).
void streamer::guarded(const std::function<void(archive::pending_folders&)>& action) {
  if (!streaming()) return;
  std::shared_lock instance(instance_mutex_);
  const std::uint64_t generation = generation_;
  try {
    if (pending_) action(*pending_);
  } catch (const std::exception& error) {
    instance.unlock();
    failed(error, generation);
  }
}

// The first failure is logged; from then on nothing streams. A failure of
// a compressor already replaced (`generation` is not the current one) is
// not this one's.
void streamer::failed(const std::exception& error, std::uint64_t generation) {
  std::shared_lock instance(instance_mutex_);
  if (generation != generation_) return;
  if (!broken_.exchange(true)) {
    log_.error("streaming compression stopped ({}); commits compress what is staged themselves", error.what());
  }
}

void streamer::flush() { guarded([](archive::pending_folders& pending) { pending.flush(); }); }

void streamer::relieve() { guarded([](archive::pending_folders& pending) { pending.relieve(); }); }

release_wait streamer::wait_for_release(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (handed_.empty() || !streaming()) return release_wait::nothing_handed;
  const auto seen = releases_;
  return released_.wait_for(lock, timeout, [&] { return releases_ != seen; }) ? release_wait::released
                                                                               : release_wait::timed_out;
}

void streamer::finish() { guarded([](archive::pending_folders& pending) { pending.finish(); }); }

void streamer::finish_folders_of(std::span<const archive::pending_id> ids) {
  guarded([ids](archive::pending_folders& pending) { pending.finish_folders_of(ids); });
}

// Also after compression failed: idle encoders hold their memory all the
// same. Said only when there were some: an unmount commits until nothing is
// left (up to four rounds), and the rounds after the first find none.
void streamer::release_encoders() {
  if (const std::size_t released = rest(); released > 0) {
    log_.info("released the memory of {} idle compressor encoders: the mount is ending", released);
  }
}

std::size_t streamer::rest() {
  std::shared_lock instance(instance_mutex_);
  return pending_ ? pending_->release_idle_encoders() : 0;
}

// A worker's failure is raised by the next call into the compressor; until
// a close or a commit makes one, the files it held would count as
// compressing, and the daemon would never rest.
bool streamer::compressing() {
  guarded([](const archive::pending_folders& pending) { pending.check(); });
  std::lock_guard lock(mutex_);
  return (expected_hand_overs_ > 0 || !handed_.empty()) && streaming();
}

// mutex_ is held across the pending folders' own take, so that a reader
// never finds a file in neither place.
const taken_folders& streamer::take() {
  std::lock_guard lock(mutex_);
  if (streaming()) {
    std::shared_lock instance(instance_mutex_);
    const std::uint64_t generation = generation_;
    try {
      if (pending_) taken_.append(pending_->take());
    } catch (const std::exception& error) {
      instance.unlock();
      failed(error, generation);
    }
  }
  return taken_;
}

void streamer::committed() {
  std::lock_guard lock(mutex_);
  for (const auto& folder : taken_.folders()) {
    for (const auto size : folder.sizes()) committed_bytes_ += size;
  }
  taken_.clear();
}

std::optional<archived_bytes> streamer::locate(archive::pending_id id) {
  std::lock_guard lock(mutex_);
  if (const auto place = taken_.find(id)) {
    const auto& folder = taken_.folders()[place->folder];
    return archived_bytes{folder.snapshot, folder.first_stream + place->index, folder.sizes()[place->index]};
  }
  std::optional<archive::pending_location> where;
  {
    std::shared_lock instance(instance_mutex_);
    if (pending_) where = pending_->locate(id);
  }
  if (!where) return std::nullopt;
  const auto& files = where->snapshot->database().substream_sizes;
  return archived_bytes{where->snapshot, where->stream, files.at(where->stream)};
}

// Once compression failed, commits compress what is staged themselves and
// count it in their own figures: what the compressor was handed counts no more.
stream_figures streamer::figures() const {
  if (!streaming()) return {};
  archive::pending_progress progress;
  {
    std::shared_lock instance(instance_mutex_);
    if (!pending_) return {};
    progress = pending_->progress();
  }
  std::lock_guard lock(mutex_);
  return {progress.handed_bytes - committed_bytes_, progress.written_bytes - committed_bytes_};
}

}  // namespace sevenzfs::fs
