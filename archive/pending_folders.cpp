#include "pending_folders.hpp"

#include "pending_lane.hpp"

#include "archive_error.hpp"
#include "archive_writer.hpp"
#include "crc32.hpp"
#include "lzma_settings.hpp"
#include "parallel_encoder.hpp"

#include <algorithm>

namespace sevenzfs::archive {

namespace {

// Low levels' dictionaries (256 KiB at level 1) would make a part per few
// hundred files.
constexpr std::uint64_t kMinSolidPartBytes = std::uint64_t{1} << 20;

}  // namespace

pending_folders::pending_folders(std::string archive_path, pending_options options, encoded_callback encoded)
    : archive_path_(std::move(archive_path)),
      options_(std::move(options)),
      encoded_(std::move(encoded)),
      pool_(std::max(options_.threads, 1u)) {
  next_id_ = std::max<pending_id>(options_.first_id, 1);
  if (options_.level < 0 || options_.level > kMaxLevel) {
    throw archive_error(error_kind::invalid_option, "", "compression level out of range");
  }
  options_.threads = std::max(options_.threads, 1u);
  options_.max_open_folders = std::max<std::size_t>(options_.max_open_folders, 1);
  const std::uint32_t dict = level_dictionary_size(std::max(options_.level, 1));
  part_bytes_ = part_bytes_for(dict, UINT64_MAX / 2, options_.threads, options_.max_part_bytes);
  solid_part_bytes_ = std::min(part_bytes_, std::max<std::uint64_t>(dict, kMinSolidPartBytes));
  max_input_ = options_.max_input_bytes != 0 ? options_.max_input_bytes : (options_.threads + 2) * part_bytes_;
  for (unsigned i = 0; i < options_.threads; ++i) encoders_.push_back(std::make_unique<lzma2_encoder>());
  streams_.resize(options_.threads);
  compressing_.resize(options_.threads);
  current_.resize(options_.threads);
  forwarded_.resize(options_.threads);
}

pending_folders::~pending_folders() {
  std::lock_guard lock(mutex_);
  cancelled_ = true;
  changed_.notify_all();  // workers waiting for their turn skip their parts now
}

void pending_folders::throw_if_failed() const {
  if (error_) std::rethrow_exception(error_);
}

pending_id pending_folders::add(const entry& e) {
  if (e.size == 0 || !e.content) throw archive_error(error_kind::invalid_input, e.path, "no content to compress");
  const auto& plan = options_.plan;
  const bool batched =
      plan.mode == pack_mode::batched || (plan.mode == pack_mode::hybrid && e.size >= plan.hybrid_threshold);
  std::unique_lock lock(mutex_);
  throw_if_failed();
  while (progress_.in_flight_bytes > 0 && progress_.in_flight_bytes + e.size > max_input_) {
    relieve_pressure();
    changed_.wait(lock);
    throw_if_failed();
  }
  const pending_id id = next_id_++;
  progress_.handed_bytes += e.size;
  progress_.in_flight_bytes += e.size;
  peak_input_ = std::max(peak_input_, progress_.in_flight_bytes);
  place(e, id, batched);
  keep_workers_busy();
  return id;
}

void pending_folders::place(const entry& e, pending_id id, bool batched) {
  pending_lane* lane = nullptr;
  if (batched) {
    const auto found = std::ranges::find_if(lanes_, [](const auto& l) { return l->batched; });
    if (found != lanes_.end()) lane = found->get();
  } else {
    lane = &lane_for_solid(extension_of(e.path));
    const auto& plan = options_.plan;
    if (lane->open) {
      auto& folder = *lane->open;
      // Its only file abandoned before a part of it was taken: no file may
      // join it (its parts are to be skipped, see abandons).
      const auto first = lane->open_first.lock();
      if (folder.files.size() == 1 && first && first->abandoned()) folder.abandoned = true;
      const bool bytes_full = plan.solid_block_bytes != 0 && folder.input_handed + e.size > plan.solid_block_bytes;
      const bool files_full = plan.solid_block_files != 0 && folder.files.size() >= plan.solid_block_files;
      if (bytes_full || files_full || folder.abandoned) end_folder(*lane);
    }
  }
  if (lane == nullptr) lane = &new_lane(true);
  if (!lane->open) open_folder(*lane, e, batched);
  lane->last_used = ++clock_;

  auto& folder = *lane->open;
  const std::size_t index = folder.files.size();
  folder.files.push_back({id, e.size, 0, 0});
  ++lane->streams;
  folder.input_handed += e.size;
  files_[id] = {lane, lane->open, index};
  for (std::uint64_t offset = 0; offset < e.size;) {
    const std::uint64_t take = std::min(e.size - offset, lane->part_bytes - lane->filling_bytes);
    lane->filling.push_back({e.content, e.path, id, index, offset, take, offset + take == e.size, 0});
    lane->filling_bytes += take;
    offset += take;
    // A full part goes to the workers at once (a batched file's last one below, as its folder's last).
    if (lane->filling_bytes == lane->part_bytes && !(batched && offset == e.size)) cut(*lane, false);
  }
  if (batched) end_folder(*lane);
}

pending_lane& pending_folders::new_lane(bool batched) {
  auto made = std::make_unique<pending_lane>();
  made->file = std::make_shared<output_file>(archive_path_ + ".pending");
  made->file->append(std::vector<std::uint8_t>(kStartHeaderSize, 0));  // packs lie where an archive's would
  made->batched = batched;
  lanes_.push_back(std::move(made));
  return *lanes_.back();
}

// The lane of the open folder for `extension`; else a lane with no open
// folder, a new lane, or (at the limit) the lane of the folder least
// recently added to, whose folder ends.
pending_lane& pending_folders::lane_for_solid(std::string_view extension) {
  pending_lane* idle = nullptr;
  pending_lane* oldest = nullptr;
  std::size_t solid = 0;
  for (const auto& lane : lanes_) {
    if (lane->batched) continue;
    ++solid;
    if (lane->open && lane->extension == extension) return *lane;
    if (!lane->open) idle = lane.get();
    if (lane->open && (oldest == nullptr || lane->last_used < oldest->last_used)) oldest = lane.get();
  }
  if (idle != nullptr) return *idle;
  if (solid < options_.max_open_folders || oldest == nullptr) return new_lane(false);
  end_folder(*oldest);
  return *oldest;
}

void pending_folders::open_folder(pending_lane& lane, const entry& first, bool batched) {
  auto folder = std::make_shared<pending_folder_record>();
  const auto& plan = options_.plan;
  folder->size_hint = batched ? first.size : (plan.solid_block_bytes != 0 ? plan.solid_block_bytes : UINT64_MAX);
  folder->first_stream = lane.streams;
  lane.part_bytes = solid_part_bytes_;
  lane.cut_bytes = 0;
  if (batched) {
    const std::uint32_t dict = lzma2_options_for(std::max(options_.level, 1), first.size).dict_size;
    lane.part_bytes = part_bytes_for(dict, first.size, options_.threads, options_.max_part_bytes);
  }
  lane.extension = batched ? std::string() : std::string(extension_of(first.path));
  lane.next_primer.reset();
  lane.open_first = batched ? std::shared_ptr<const entry_content>() : first.content;
  lane.folders.push_back(folder);
  lane.open = std::move(folder);
}

void pending_folders::end_folder(pending_lane& lane) {
  if (lane.open) cut(lane, true);
}

std::uint64_t pending_folders::cut(pending_lane& lane, bool last) {
  if (!lane.batched) order_filling(lane);
  auto& folder = *lane.open;
  auto part = std::make_unique<pending_part>();
  part->folder = lane.open;
  part->index = folder.parts_cut;
  part->first = folder.parts_cut == 0;
  part->last = last;
  part->pieces = std::move(lane.filling);
  part->input_bytes = lane.filling_bytes;
  part->input_before = lane.cut_bytes;
  lane.cut_bytes += part->input_bytes;
  lane.filling = {};
  lane.filling_bytes = 0;
  // A folder cut once has a known size: its dictionary need not exceed it.
  if (part->first) folder.options_for_size = part->last ? folder.input_handed : folder.size_hint;
  part->options = lzma2_options_for(std::max(options_.level, 1), folder.options_for_size);
  if (part->first) folder.lzma2_property = lzma2_property_byte(part->options);
  part->primer_in = std::move(lane.next_primer);
  if (!last && options_.level > 0) {
    part->primer_out = std::make_shared<primer_slot>();
    lane.next_primer = part->primer_out;
  }
  ++folder.parts_cut;
  if (last) {
    folder.ended = true;
    lane.open.reset();
    lane.open_first.reset();
  }
  part->sequence = next_sequence_++;
  const std::uint64_t sequence = part->sequence;
  unwritten_.insert(part->sequence);
  ++running_;
  ready_[part->sequence] = {&lane, part.get()};
  folder.ready.push_back(part->sequence);
  lane.unwritten.push_back(std::move(part));
  // A job per part; which part a job takes depends on its worker, and a job
  // may go on to another worker (take_ready).
  pool_.submit([this](std::size_t worker) { run_next(worker, false); });
  return sequence;
}

void pending_folders::run_next(std::size_t worker, bool forwarded) {
  taken_part taken;
  bool skip = false;
  bool abandoned = false;
  {
    std::unique_lock lock(mutex_);
    if (forwarded) --forwarded_[worker];
    wait_for_turn(lock);
    taken = take_ready(worker);
    if (!taken.part) {
      pool_.submit_to(taken.forward_to, [this](std::size_t other) { run_next(other, true); });
      return;
    }
    skip = cancelled_ || error_;
    abandoned = !skip && abandons(*taken.part);
    compressing_[worker] = true;
    current_[worker] = taken.part;
  }
  pending_lane* lane = taken.lane;
  pending_part& part = *taken.part;
  std::exception_ptr error;
  if (taken.ahead) {
    if (!skip && !abandoned) {
      try {
        part.primer_made = next_primer(nullptr, taken.primer_from, part.options.dict_size, buffers_);
      } catch (...) {
        error = std::current_exception();
        if (part.primer_out) part.primer_out->fail(error);
      }
    }
    taken.primer_from.clear();
    std::unique_lock lock(mutex_);
    --lane->making_primers;
    write_finished(*lane, lock);
    changed_.notify_all();
  }
  if (abandoned) {
    part.packed = std::make_unique<metered_bytes>(buffers_);  // nothing: not to be read (see the header)
    if (part.primer_out) {
      part.primer_out->fail(std::make_exception_ptr(
          archive_error(error_kind::invalid_input, archive_path_, "a part after an abandoned one was compressed")));
    }
  } else if (!skip && !error) {
    try {
      compress_part(part, *encoders_[worker], options_.level, buffers_);
    } catch (...) {
      error = std::current_exception();
    }
  }
  std::unique_lock lock(mutex_);
  compressing_[worker] = false;
  current_[worker] = nullptr;
  if (skip || error || part.given_up || abandoned) streams_[worker] = {};
  progress_.abandoned_parts += abandoned ? 1 : 0;
  part.finished = true;
  part.error = error;
  if (skip) {
    part.error = error_ ? error_ : std::make_exception_ptr(archive_error(error_kind::io, archive_path_, "cancelled"));
    if (part.primer_out) part.primer_out->fail(part.error);
  }
  --running_;
  write_finished(*lane, lock);
  changed_.notify_all();
}

// Whether the part's folder is abandoned (see pending_folder_record): its
// one file's content says so. A folder of several files is never: the
// others' bytes need the whole stream.
bool pending_folders::abandons(pending_part& part) {
  auto& folder = *part.folder;
  if (!folder.abandoned) {
    if (folder.files.size() != 1 || part.pieces.empty() || !part.pieces.front().content->abandoned()) return false;
    folder.abandoned = true;
  }
  return true;
}

// Writes the lane's finished parts in order, one thread at a time per lane
// (the others leave theirs to it); the lock is released while writing.
void pending_folders::write_finished(pending_lane& lane, std::unique_lock<std::mutex>& lock) {
  if (lane.writing) return;
  lane.writing = true;
  std::vector<pending_id> encoded;
  while (lane.making_primers == 0 && !lane.unwritten.empty() && lane.unwritten.front()->finished) {
    std::unique_ptr<pending_part> part = std::move(lane.unwritten.front());
    lane.unwritten.pop_front();
    auto& folder = *part->folder;
    // Nothing is written after a failure (error_): a later part of the
    // failed one's folder would be counted as if it followed it, its files
    // whole though their bytes lie partly in the part not written (a full
    // disk made the recovery save read such a folder, and throw).
    if (!part->error && !cancelled_ && !error_) {
      if (part->first) folder.pack_offset = lane.file->position();
      lock.unlock();
      try {
        lane.file->append(part->packed->bytes());
      } catch (...) {
        part->error = std::current_exception();
      }
      lock.lock();
    }
    unwritten_.erase(part->sequence);
    progress_.in_flight_bytes -= part->input_bytes;
    if (part->error || cancelled_ || error_) {
      if (!error_ && part->error) error_ = part->error;
      lock.unlock();
      part.reset();
      lock.lock();
      continue;
    }
    folder.packed_written += part->packed->bytes().size();
    folder.input_written += part->input_bytes;
    folder.stored = folder.stored || part->stored;
    progress_.primed_parts += part->primed ? 1 : 0;
    progress_.continued_parts += part->continues && !part->without_encoder ? 1 : 0;
    progress_.given_up_parts += part->given_up ? 1 : 0;
    for (const auto& piece : part->pieces) {
      auto& file = folder.files[piece.file_index];
      file.crc = file.written == 0 ? piece.crc : crc32::combine(file.crc, piece.crc, piece.size);
      file.written += piece.size;
      if (piece.file_ends) {
        ++folder.complete_files;
        encoded.push_back(piece.id);
      }
    }
    if (part->last) folder.written = true;
    progress_.written_bytes += part->input_bytes;
    progress_.packed_bytes += part->packed->bytes().size();
    ++lane.generation;
    // With nothing more to write, the lane is let go before the callbacks
    // below, and this thread touches it no more: a take() meanwhile (a
    // commit's, whose finish() may see the parts written during them)
    // retires a lane with nothing left, whose pending file then goes with
    // the taken folders. Kept as still writing, the lane and its file (the
    // size of what was committed) stayed until the next commit. A part
    // finished meanwhile is written by its own worker.
    const bool more = lane.making_primers == 0 && !lane.unwritten.empty() && lane.unwritten.front()->finished;
    if (!more) lane.writing = false;
    lock.unlock();
    part.reset();  // lets go of the files' content
    if (encoded_) {
      for (auto id : encoded) encoded_(id);
    }
    encoded.clear();
    lock.lock();
    if (!more) return;
  }
  lane.writing = false;
}

void pending_folders::flush() {
  std::lock_guard lock(mutex_);
  throw_if_failed();
  for (const auto& lane : lanes_) {
    if (lane->open && lane->filling_bytes > 0) cut(*lane, false);
  }
}

void pending_folders::relieve() {
  std::lock_guard lock(mutex_);
  throw_if_failed();
  relieve_pressure();
}

void pending_folders::finish() {
  std::unique_lock lock(mutex_);
  throw_if_failed();
  for (const auto& lane : lanes_) end_folder(*lane);
  const std::uint64_t last = next_sequence_;
  wait_with_all_workers(lock, [&] { return unwritten_.empty() || *unwritten_.begin() >= last; });
}

void pending_folders::finish_folders_of(std::span<const pending_id> ids) {
  std::unique_lock lock(mutex_);
  throw_if_failed();
  std::vector<std::shared_ptr<const pending_folder_record>> folders;
  for (const pending_id id : ids) {
    const auto found = files_.find(id);
    if (found == files_.end()) continue;
    const file_place& place = found->second;
    if (place.lane->open == place.folder) end_folder(*place.lane);
    folders.push_back(place.folder);
  }
  if (folders.empty()) return;
  wait_with_all_workers(lock, [&] { return std::ranges::all_of(folders, [](const auto& f) { return f->written; }); });
}

void pending_folders::wait_with_all_workers(std::unique_lock<std::mutex>& lock, const std::function<bool()>& done) {
  ++finishing_;
  changed_.notify_all();  // workers waiting for their turn
  changed_.wait(lock, [&] { return error_ || done(); });
  --finishing_;
  throw_if_failed();
}

void pending_folders::check() const {
  std::lock_guard lock(mutex_);
  throw_if_failed();
}

std::size_t pending_folders::release_idle_encoders() {
  std::lock_guard lock(mutex_);
  std::size_t released = 0;
  for (std::size_t worker = 0; worker < encoders_.size(); ++worker) {
    if (compressing_[worker] || !encoders_[worker]->holds_memory()) continue;
    encoders_[worker]->release();
    streams_[worker] = {};  // no part can continue a stream that is gone
    ++released;
  }
  return released;
}

}  // namespace sevenzfs::archive
