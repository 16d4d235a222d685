#include "parallel_encoder.hpp"

#include "shrink_probe.hpp"

#include <algorithm>

namespace sevenzfs::archive {

namespace {

constexpr std::uint64_t kMinPartBytes = std::uint64_t{1} << 20;
constexpr std::uint64_t kMaxPartBytes = std::uint64_t{256} << 20;
// A part's weight in the window of parts handed out: its input, but at least
// this, which covers its bookkeeping and its packed buffer's pages.
constexpr std::uint64_t kMinCountedPart = 64 * 1024;

std::uint64_t counted_in_window(std::uint64_t input_bytes) { return std::max(input_bytes, kMinCountedPart); }

std::uint64_t divide_rounding_up(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

}  // namespace

struct parallel_encoder::part {
  // Set when handed out.
  input_buffer input;                // released by the worker once compressed, unless stored
  std::vector<input_buffer> primer;  // the input before this part; released once the encoder started
  lzma_options_lzma options{};
  bool first = false;
  bool last = false;
  bool one_file = false;  // of its folder
  // The part before's probe outcome: once it gave up, this part is not
  // primed (see shrink_probe.hpp). And this part's, for the next one.
  std::shared_ptr<probe_verdict> before;
  std::shared_ptr<probe_verdict> verdict;
  std::uint64_t input_bytes = 0;
  folder_done done;  // the folder's last part only

  // Set by the worker; read once `finished` (guarded by the encoder's mutex).
  std::unique_ptr<metered_bytes> packed;
  bool stored = false;
  bool finished = false;
  std::exception_ptr error;
};

std::uint64_t part_bytes_for(std::uint32_t dict_size, std::uint64_t folder_bytes, unsigned threads,
                             std::uint64_t longest) {
  const std::uint64_t automatic = std::clamp(kPartDictionaries * dict_size, kMinPartBytes, kMaxPartBytes);
  longest = longest == 0 ? automatic : std::min(longest, automatic);
  const std::uint64_t shortest = std::max<std::uint64_t>(std::min<std::uint64_t>(dict_size, longest), 1);
  const std::uint64_t needed = std::max<std::uint64_t>(divide_rounding_up(folder_bytes, longest), 1);
  const std::uint64_t balanced = divide_rounding_up(needed, threads) * threads;
  const std::uint64_t parts = std::max(needed, std::min(balanced, folder_bytes / shortest));
  return std::max<std::uint64_t>(divide_rounding_up(folder_bytes, parts), 1);
}

part_split split_for_primers(std::uint32_t dict_size, std::uint64_t folder_bytes, std::uint64_t part_bytes,
                             std::uint64_t longest) {
  const part_split even{part_bytes, part_bytes};
  const std::uint64_t parts = divide_rounding_up(folder_bytes, std::max<std::uint64_t>(part_bytes, 1));
  if (parts < 2) return even;
  // n parts, the first longer by the pass over its primer (a dictionary):
  // n x rest + extra bytes.
  const auto pass = static_cast<std::uint64_t>(kPrimerPassCost * static_cast<double>(dict_size));
  const std::uint64_t extra = std::min(pass, longest > part_bytes ? longest - part_bytes : 0);
  const std::uint64_t rest = divide_rounding_up(folder_bytes - std::min(folder_bytes, extra), parts);
  // Parts stay at least a dictionary long, as part_bytes_for cuts them: a
  // primer then lies in the one part before (parallel_buffer_bytes).
  if (rest < std::min<std::uint64_t>(dict_size, part_bytes)) return even;
  return {rest + extra, rest};
}

std::uint64_t parallel_buffer_bytes(unsigned threads, std::uint64_t part_bytes, std::uint32_t dict_size) {
  // The part being filled, up to threads + 1 parts' worth handed out (their
  // input while compressed, their packed bytes once finished), the packed
  // bytes each worker writes beside the input it compresses, and the newest
  // part kept as the next one's primer after it was output.
  std::uint64_t bytes = (2 * std::uint64_t{threads} + 3) * lzma2_packed_bound(part_bytes);
  // Parts shorter than the dictionary: the primer spans several parts, and
  // each worker joins its primer into one contiguous copy.
  if (part_bytes < dict_size) bytes += (std::uint64_t{threads} + 1) * (dict_size + part_bytes);
  return bytes;
}

parallel_encoder::parallel_encoder(unsigned threads, span_sink output, std::function<void(std::uint64_t)> progress)
    : threads_(std::max(threads, 1u)), output_(std::move(output)), progress_(std::move(progress)), pool_(threads_) {
  for (unsigned i = 0; i < threads_; ++i) encoders_.push_back(std::make_unique<lzma2_encoder>());
}

parallel_encoder::~parallel_encoder() = default;

std::uint64_t parallel_encoder::peak_buffered_bytes() const { return meter_.peak(); }

std::uint64_t parallel_encoder::filling_limit() const {
  return submitted_bytes_ == 0 ? first_part_bytes_ : part_bytes_;
}

parallel_encoder::input_buffer parallel_encoder::new_input_buffer() {
  auto buffer = std::make_shared<metered_bytes>(meter_);
  // Reserve the part, or what remains of the folder when that is less (a
  // folder per small file must not cost a part's allocation).
  const std::uint64_t remaining = folder_bytes_ > submitted_bytes_ ? folder_bytes_ - submitted_bytes_ : 0;
  buffer->bytes().reserve(static_cast<std::size_t>(std::min(filling_limit(), remaining)));
  return buffer;
}

void parallel_encoder::begin_folder(const lzma_options_lzma& options, std::uint64_t folder_bytes, folder_done done,
                                    std::uint64_t longest_part, bool one_file,
                                    std::optional<std::span<const std::uint8_t>> continued) {
  options_ = options;
  one_file_ = one_file && !continued;
  folder_bytes_ = folder_bytes;
  submitted_bytes_ = 0;
  part_bytes_ = part_bytes_for(options.dict_size, folder_bytes, threads_, longest_part);
  // Never lowered: a small folder's dictionary is fitted to it, and a large
  // part ahead of its parts must not hold them up.
  const std::uint64_t longest = part_bytes_for(options.dict_size, UINT64_MAX / 2, threads_, longest_part);
  // A continuation's first part is primed like the others, unless it
  // resets the dictionary (no input before it is given).
  const part_split split = continued && !continued->empty()
                               ? part_split{part_bytes_, part_bytes_}
                               : split_for_primers(options.dict_size, folder_bytes, part_bytes_, longest);
  first_part_bytes_ = split.first;
  part_bytes_ = split.rest;
  max_outstanding_input_ = std::max(max_outstanding_input_, (std::uint64_t{threads_} + 1) * counted_in_window(longest));
  done_ = std::move(done);
  // A continuation's first part is never "first": its folder is never stored.
  first_part_ = !continued;
  history_.clear();
  last_verdict_.reset();
  if (continued && !continued->empty()) {
    auto primer = std::make_shared<metered_bytes>(meter_);
    primer->append(
        continued->last(static_cast<std::size_t>(std::min<std::uint64_t>(continued->size(), options.dict_size))));
    history_.push_back(std::move(primer));
  }
  filling_ = new_input_buffer();
}

void parallel_encoder::write(std::span<const std::uint8_t> input) {
  while (!input.empty()) {
    if (filling_->bytes().size() == filling_limit()) submit_part(false);  // full, and more follows
    const auto take =
        static_cast<std::size_t>(std::min<std::uint64_t>(input.size(), filling_limit() - filling_->bytes().size()));
    filling_->append(input.first(take));
    input = input.subspan(take);
  }
}

void parallel_encoder::end_folder() {
  submit_part(true);
  history_.clear();
}

void parallel_encoder::submit_part(bool last) {
  wait_for_free_worker();
  auto work = std::make_unique<part>();
  work->input = std::move(filling_);
  work->primer.assign(history_.begin(), history_.end());
  work->options = options_;
  work->first = first_part_;
  work->last = last;
  work->one_file = one_file_;
  work->input_bytes = work->input->bytes().size();
  if (last) work->done = std::move(done_);
  work->before = std::move(last_verdict_);
  if (!last && shrink_probe::probes(one_file_, work->input_bytes)) {
    work->verdict = std::make_shared<probe_verdict>();
    last_verdict_ = work->verdict;
  }
  first_part_ = false;
  submitted_bytes_ += work->input_bytes;

  // Keep just the newest parts that cover a dictionary: the next primer.
  history_.push_back(work->input);
  std::uint64_t covered = 0;
  for (const auto& buffer : history_) covered += buffer->bytes().size();
  while (history_.size() > 1 && covered - history_.front()->bytes().size() >= options_.dict_size) {
    covered -= history_.front()->bytes().size();
    history_.pop_front();
  }

  part* handed_out = work.get();
  {
    std::lock_guard lock(mutex_);
    outstanding_input_ += counted_in_window(work->input_bytes);
    parts_.push_back(std::move(work));
    ++running_;
  }
  pool_.submit([this, handed_out](std::size_t worker) { compress(*handed_out, worker); });
  if (!last) filling_ = new_input_buffer();
}

void parallel_encoder::compress(part& work, std::size_t worker) {
  auto packed = std::make_unique<metered_bytes>(meter_);
  bool stored = false;
  std::exception_ptr error;
  try {
    lzma2_encoder& encoder = *encoders_[worker];
    if (work.before && work.before->wait()) work.primer.clear();  // a dictionary of its own
    work.before.reset();
    metered_bytes joined(meter_);
    std::span<const std::uint8_t> primer;
    if (work.primer.size() == 1) {
      primer = work.primer.front()->bytes();
    } else if (work.primer.size() > 1) {
      std::uint64_t total = 0;
      for (const auto& buffer : work.primer) total += buffer->bytes().size();
      std::uint64_t skip = total > work.options.dict_size ? total - work.options.dict_size : 0;
      joined.bytes().reserve(static_cast<std::size_t>(total - skip));
      for (const auto& buffer : work.primer) {
        const auto& bytes = buffer->bytes();
        const auto from = static_cast<std::size_t>(std::min<std::uint64_t>(skip, bytes.size()));
        skip -= from;
        joined.append(std::span(bytes).subspan(from));
      }
      primer = joined.bytes();
    }

    // Reserved for the worst case, which costs address space only: pages
    // never written are never backed by memory.
    packed->bytes().reserve(static_cast<std::size_t>(lzma2_packed_bound(work.input_bytes)));
    const span_sink collect = [&packed](std::span<const std::uint8_t> bytes) { packed->append(bytes); };
    const bool alone = work.first && work.last;
    const auto after = alone ? shrink_probe::after_giving_up::drop_input : shrink_probe::after_giving_up::raw_chunks;
    const std::span<const std::uint8_t> input = work.input->bytes();
    // Input the sample does not judge is judged whole first: incompressible,
    // it needs no encoder (pending_part.cpp).
    const input_verdict judged =
        shrink_probe::samples(work.one_file, work.input_bytes, after)
            ? input_verdict::compressible
            : judge_input([&](const judged_sink& sink) { sink(input); }, work.input_bytes,
                          primer.last(std::min<std::size_t>(primer.size(), work.options.dict_size)));
    bool gave_up = judged == input_verdict::incompressible;
    if (gave_up) {
      // Not a probe's giving up: the next part is primed with this input.
      if (work.verdict) work.verdict->give(false);
      if (!alone) {
        // A part without a primer starts a dictionary of its own, as the
        // encoder would: a continuation's seek point stays one.
        write_uncompressed_chunks(input, collect, work.first || primer.empty());
        if (work.last) collect(std::span(&kLzma2EndMarker, 1));
      }
      work.primer.clear();
      joined.clear();
    } else {
      encoder.start(work.options, primer);
      // The encoder has copied its primer: the input before this part need
      // not stay for the whole part.
      work.primer.clear();
      joined.clear();
      // A part that repeats is compressed whole: its start may hold none of
      // the copy.
      shrink_probe probe(work.one_file && judged == input_verdict::compressible, work.input_bytes, after);
      // A part that does not probe tells the next one at once.
      if (work.verdict && probe.decided()) work.verdict->give(false);
      // The probe's share first, for the next part to know its outcome as
      // soon as it can.
      const auto probed =
          input.first(static_cast<std::size_t>(std::min<std::uint64_t>(input.size(), shrink_probe::kProbeBytes)));
      probe.write(encoder, probed, collect);
      if (work.verdict) work.verdict->give(probe.gave_up());  // decided: a part given one probes, or none
      probe.write(encoder, input.subspan(probed.size()), collect);
      if (!probe.end_given_up(work.last, collect)) encoder.finish(collect, work.last);
      gave_up = probe.gave_up();
    }
    stored = alone && (gave_up || packed->bytes().size() >= work.input_bytes);
    if (stored) {
      packed.reset();
    } else {
      work.input.reset();
    }
  } catch (...) {
    error = std::current_exception();
    if (work.verdict) work.verdict->give(false);  // the next part must not wait for ever
    packed.reset();
    work.primer.clear();
    work.input.reset();
  }
  std::lock_guard lock(mutex_);
  work.packed = std::move(packed);
  work.stored = stored;
  work.error = error;
  work.finished = true;
  --running_;
  part_finished_.notify_all();
}

void parallel_encoder::wait_for_free_worker() {
  std::unique_lock lock(mutex_);
  for (;;) {
    write_finished_parts(lock);
    // The part about to go counts at its full length (a folder's first may
    // be longer than the rest).
    if (running_ < threads_ && outstanding_input_ + counted_in_window(filling_limit()) <= max_outstanding_input_) {
      return;
    }
    part_finished_.wait(lock);
  }
}

void parallel_encoder::finish() {
  std::unique_lock lock(mutex_);
  for (;;) {
    write_finished_parts(lock);
    if (parts_.empty()) return;
    part_finished_.wait(lock);
  }
}

void parallel_encoder::write_finished_parts(std::unique_lock<std::mutex>& lock) {
  while (!parts_.empty() && parts_.front()->finished) {
    std::unique_ptr<part> done = std::move(parts_.front());
    parts_.pop_front();
    outstanding_input_ -= counted_in_window(done->input_bytes);
    lock.unlock();
    if (done->error) std::rethrow_exception(done->error);
    const auto& bytes = done->stored ? done->input->bytes() : done->packed->bytes();
    output_(bytes);
    output_pack_size_ += bytes.size();
    if (progress_) progress_(done->input_bytes);
    if (done->last) {
      const packed_folder folder{output_pack_size_, done->stored};
      output_pack_size_ = 0;
      done->done(folder);
    }
    done.reset();
    lock.lock();
  }
}

}  // namespace sevenzfs::archive
