#pragma once
// Compresses folder streams on worker threads into LZMA2 with the ratio of one
// stream per folder. A folder's input is cut into parts; the encoder of every
// part after the first is primed with the dictionary-size bytes of input before
// it (lzma2_encoder::start's preset dictionary), so it does not reset the
// dictionary and its matches reach back across the cut as a single encoder's
// would (the first part, with no primer to pass over, is the longest); only
// the folder's last part keeps the end marker. Packed bytes are
// handed out in input order, and a folder's completion is reported once its
// last packed byte has been.
//
// Memory does not grow with the folder: parts are a few dictionaries long, a
// part is handed to a worker only when one is free, and the parts between
// hand-over and output hold at most threads + 1 longest parts' worth of input
// (each counted as at least kMinCountedPart, so that many tiny parts cannot
// pile up behind a long one), so at most 2 x threads + 3 parts' worth is
// held: the ones being compressed with the packed bytes written so far,
// finished ones waiting for an older one (their packed bytes), the one being
// filled, and the newest one handed out, kept as the next one's primer. See
// parallel_buffer_bytes.
#include "entry.hpp"
#include "lzma2_encoder.hpp"
#include "metered_bytes.hpp"
#include "worker_pool.hpp"

#include <lzma.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

namespace sevenzfs::archive {

class probe_verdict;

// The part size for a folder of `folder_bytes` compressed with a dictionary of
// `dict_size` by `threads` threads. Priming a part's encoder costs the match
// finder a pass over up to a dictionary of input, 0.6-1 of what compressing as
// many bytes costs (level 5, 100 MB folders, 2 threads against 1: blob cache
// 1.38x CPU in 2-dictionary parts, 1.10x in 4-dictionary ones; mixed corpus
// 1.58x and 1.37x).
// So parts are at most 4 dictionaries within 1-256 MiB (the size of 7-Zip's
// LZMA2 blocks, which restart the dictionary instead) and at most `longest`
// unless that is 0; and no shorter than a dictionary (or `longest`) unless
// the folder is: a folder under two dictionaries is one part, larger ones are
// cut evenly, into a multiple of `threads` parts where that keeps them that
// long, so that the threads finish together.
inline constexpr std::uint64_t kPartDictionaries = 4;
std::uint64_t part_bytes_for(std::uint32_t dict_size, std::uint64_t folder_bytes, unsigned threads,
                             std::uint64_t longest = 0);

// What a primer's pass costs the match finder against compressing as many
// bytes: 0.6-0.7 (level 5, the second half of the 10,000-file blob cache:
// 20.2 s CPU primed with 16 MiB against 16.5 s unprimed, where 16 MiB of it
// take 5.5 s to compress).
inline constexpr double kPrimerPassCost = 0.6;

// The parts of a folder of `folder_bytes` cut into parts of `part_bytes`
// (part_bytes_for) that start a stream: every part after the first is
// primed, so the first is made longer by the primer's pass and the others
// shorter, for the parts to take a worker about the same time. The blob
// cache (100 MB, 2 threads): parts of 55.3 and 45.2 MB instead of two of
// 50.3; the primed one took 17.8-22.4 s of CPU instead of 20.5-25.7, the
// first about the same (12.5-16.6 s). The first part stays within
// `longest`; one part stays one.
struct part_split {
  std::uint64_t first = 0;
  std::uint64_t rest = 0;
};
part_split split_for_primers(std::uint32_t dict_size, std::uint64_t folder_bytes, std::uint64_t part_bytes,
                             std::uint64_t longest);

// An upper bound of the input and packed bytes a parallel_encoder with
// `threads` threads holds for parts of `part_bytes` and a dictionary of
// `dict_size` (not counting the encoders: see lzma_raw_encoder_memusage).
std::uint64_t parallel_buffer_bytes(unsigned threads, std::uint64_t part_bytes, std::uint32_t dict_size);

struct packed_folder {
  std::uint64_t pack_size = 0;
  bool stored = false;  // the folder was one part that did not shrink: its packed bytes are its input (Copy coder)
};

class parallel_encoder {
 public:
  using folder_done = std::function<void(const packed_folder&)>;

  // `output` receives the packed bytes in order and `progress` (may be empty)
  // the input bytes whose packed bytes it has received; both, and every
  // folder_done, run on the caller's thread inside the calls below.
  parallel_encoder(unsigned threads, span_sink output, std::function<void(std::uint64_t)> progress);
  ~parallel_encoder();
  parallel_encoder(const parallel_encoder&) = delete;
  parallel_encoder& operator=(const parallel_encoder&) = delete;

  // Starts a folder of `folder_bytes` input (an estimate is fine: it only
  // sizes the parts), cut into parts of part_bytes_for(..., longest_part),
  // the first one longer when it needs no primer (split_for_primers).
  // `done` runs once its last packed byte was output. The previous folder
  // must have ended. `one_file`: the folder holds one file, whose compression
  // may be given up early and the folder stored (see shrink_probe.hpp).
  // `continued`: the folder goes on from a stream (see
  // folder_continuation.hpp), and these are the input before it, whose last
  // dictionary primes the first part (none: the first part resets the
  // dictionary); the folder is then never stored.
  void begin_folder(const lzma_options_lzma& options, std::uint64_t folder_bytes, folder_done done,
                    std::uint64_t longest_part = 0, bool one_file = false,
                    std::optional<std::span<const std::uint8_t>> continued = std::nullopt);
  // The folder's input, in order, in pieces of any size.
  void write(std::span<const std::uint8_t> input);
  void end_folder();
  // Waits until every ended folder is output. Rethrows a worker's error.
  void finish();

  // The most input and packed bytes held at once so far (for tests).
  std::uint64_t peak_buffered_bytes() const;

 private:
  struct part;
  using input_buffer = std::shared_ptr<metered_bytes>;

  std::uint64_t filling_limit() const;  // the length of the part being filled
  input_buffer new_input_buffer();
  void submit_part(bool last);
  void compress(part& work, std::size_t worker);
  void wait_for_free_worker();
  void write_finished_parts(std::unique_lock<std::mutex>& lock);

  unsigned threads_;
  span_sink output_;
  std::function<void(std::uint64_t)> progress_;
  memory_meter meter_;  // declared before every buffer it counts
  std::vector<std::unique_ptr<lzma2_encoder>> encoders_;

  // The folder being filled.
  lzma_options_lzma options_{};
  std::uint64_t folder_bytes_ = 0;
  std::uint64_t submitted_bytes_ = 0;
  std::uint64_t part_bytes_ = 0;
  std::uint64_t first_part_bytes_ = 0;  // the folder's first part (see split_for_primers)
  bool one_file_ = false;
  // The most outstanding_input_ may reach before a part is handed out:
  // threads + 1 parts of the longest length a folder begun so far can be cut
  // into (the caller's thread only).
  std::uint64_t max_outstanding_input_ = 0;
  folder_done done_;
  input_buffer filling_;
  bool first_part_ = true;
  // The latest parts of the folder (newest last) covering the dictionary
  // size: the next part's primer.
  std::deque<input_buffer> history_;
  // The newest part's probe outcome, which the next part waits for before
  // it is primed (null when that part does not probe).
  std::shared_ptr<probe_verdict> last_verdict_;
  // Packed bytes output so far of the oldest folder not yet done.
  std::uint64_t output_pack_size_ = 0;

  // Parts handed to workers and not yet output, oldest first; guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable part_finished_;
  std::deque<std::unique_ptr<part>> parts_;
  unsigned running_ = 0;
  // Input of parts_, each counted as at least kMinCountedPart (their buffers
  // are at most about that much each). Counting bytes, not parts, lets short
  // parts finished behind a long one wait without holding the other workers up.
  std::uint64_t outstanding_input_ = 0;

  // Declared last: destroyed (joined) first, before what its jobs use.
  worker_pool pool_;
};

}  // namespace sevenzfs::archive
