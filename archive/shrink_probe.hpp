#pragma once
// Gives up compressing a file that does not shrink, early. liblzma's match
// finder is several times slower than 7-Zip's on incompressible input
// (random or already compressed data: 3.7x on the benchmark's .bin files),
// and such data ends up stored anyway. So the first kProbeBytes of a stream
// are compressed and flushed (LZMA2 ends its chunk; the stream may go on),
// and if they saved less than 1/64 of their size, the encoder gets no more:
// - a folder of one part is stored instead by the caller (Copy coder), which
//   reads the input again: the probe drops it;
// - a part of a larger folder writes the rest of its input as LZMA2
//   uncompressed chunks, which any LZMA2 decoder copies into its dictionary:
//   the folder stays one valid LZMA2 stream and the other parts, compressed
//   or not, are unaffected. The encoder's own dictionary then lacks that
//   input, so the part's successor must start a new stream (see below).
//
// The probe runs on input from one file only, and only once judge_input
// found a window of low entropy in it (below): the start of a file says
// much about the rest of it, the start of a solid folder little about its
// other files. A file of one part that starts incompressible and goes on
// compressible is stored, as btrfs's compression heuristic would store it;
// in a larger folder each part decides by its own start.
// A file too short for that probe (up to kProbeBytes) that is a folder of
// its own (a batched file) is judged by its bytes instead, before the
// encoder gets any of them: first kSampleBytes, then, when their order-0
// entropy is at least kIncompressibleBits per byte and they do not repeat
// themselves (repeats_itself), the whole file: it is stored when each
// kSampleBytes window measures that much and no 8-byte runs repeat
// (looks_incompressible_throughout). Random bytes followed by text are so
// compressed, as 7-Zip compresses them. 2,000 random files of 10 KB took 2.3 s of
// CPU compressed, 0.1 s so. Random data and gzip files measure 7.99-8.0,
// text and executables below 6.5. Of /usr/share's files of 4 KiB or more
// at 7.99 or more (62 MB), LZMA saved 0.5 % compressing each alone (a zip
// file of stored members 18 %). Any other input (a part of several files
// in a solid folder, a large file or a part of one) is judged whole before
// any encoder sees it (judge_input): there the savings are duplicates
// (whole-file copies are 23 % of the bytes of /usr/share's files at 7.95 or
// more, which xz -5 shrank by 14 % in one stream, by 1.5 % one by one), so
// it is compressed when it repeats what came before it; and the part after
// it is primed with it as usual, so that a copy further on is found (two
// copies of a 2 MiB random file, in parts of their own, were stored twice
// while the probe judged them). That costs a compressible part after it a
// match-finder pass over noise: once for each change from noise to other
// data in a folder, where parts of noise need no encoder at all.
// The part after one whose probe gave up is not primed with its input: it
// starts a dictionary of its own (an LZMA2 stream may reset it at any chunk)
// rather than pass its match finder over data that held no matches. 100 MB
// of random data in a mount with a 64 MiB pool (parts of 11 MB) took 25 s
// when every part probed and the next was primed, nine primers of 16 MiB
// each. A part in pending_folders hands its successor no primer then
// (compress_part); parallel_encoder's parts pass a probe_verdict. (A part
// that an idle worker takes ahead of the part before it is primed still:
// that part's probe has not run yet. See pending_folders::take_ahead.)
#include "entry.hpp"
#include "lzma2_encoder.hpp"

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

namespace sevenzfs::archive {

class shrink_probe {
 public:
  static constexpr std::uint64_t kProbeBytes = 512 * 1024;
  static constexpr std::uint64_t kSampleBytes = 16 * 1024;
  static constexpr std::uint64_t kSampleMinBytes = 4 * 1024;  // fewer tell too little
  static constexpr double kIncompressibleBits = 7.99;

  enum class after_giving_up { drop_input, raw_chunks };

  // `one_file`: the input is from one file; otherwise the probe never gives
  // up. Input no longer than the probe is not probed either: its
  // compression ends as soon.
  static bool probes(bool one_file, std::uint64_t input_bytes) noexcept {
    return one_file && input_bytes > kProbeBytes;
  }
  // Whether a file this long is judged by a sample instead (see above).
  static bool samples(bool one_file, std::uint64_t input_bytes, after_giving_up after) noexcept {
    return one_file && after == after_giving_up::drop_input && input_bytes >= kSampleMinBytes &&
           input_bytes <= kProbeBytes;
  }
  shrink_probe(bool one_file, std::uint64_t input_bytes, after_giving_up after) noexcept
      : probing_(probes(one_file, input_bytes)),
        sampling_(samples(one_file, input_bytes, after)),
        after_(after),
        input_bytes_(input_bytes) {}

  // Compresses `input` on, or once given up, drops it or writes it as
  // uncompressed chunks.
  void write(lzma2_encoder& encoder, std::span<const std::uint8_t> input, const span_sink& output);
  bool gave_up() const noexcept { return gave_up_; }
  // Whether gave_up() is final: the probe is over, or there was none.
  bool decided() const noexcept { return !probing_ && !sampling_; }
  // After the last write: once given up, ends the output (uncompressed
  // chunks with the end marker when `last`; dropped input needs nothing) and
  // returns true. Otherwise returns false: the encoder's stream is the
  // caller's to end.
  bool end_given_up(bool last, const span_sink& output) const;

 private:
  void sample(lzma2_encoder& encoder, std::span<const std::uint8_t> input, const span_sink& output);

  bool probing_;
  bool sampling_;
  after_giving_up after_;
  std::uint64_t input_bytes_;
  // The sample, held back from the encoder until it is judged: complete
  // once min(kSampleBytes, input_bytes_) bytes came.
  std::array<std::uint8_t, kSampleBytes> held_;
  std::size_t held_bytes_ = 0;
  // A file whose sample looked incompressible, held whole until it is all
  // judged (at most kProbeBytes: rare, so allocated then).
  std::vector<std::uint8_t> whole_;
  bool gave_up_ = false;
  std::uint64_t fed_ = 0;
  std::uint64_t packed_ = 0;
};

// A part's probe outcome, for the part after it, which is primed with its
// input unless the probe gave up (then it starts a dictionary of its own).
// Given once; a part that fails before its probe decided gives `false`, so
// that the next one never waits for ever (its folder fails anyway).
class probe_verdict {
 public:
  void give(bool gave_up);
  bool wait();  // whether the part before gave up

 private:
  std::mutex mutex_;
  std::condition_variable given_;
  std::optional<bool> gave_up_;
};

// Order-0 entropy of `bytes` in bits per byte, with the Miller-Madow
// correction (the plain estimate falls short on a few KiB: 7.98 for random).
double byte_entropy(std::span<const std::uint8_t> bytes) noexcept;

// Whether more than 1/64 of the positions of `bytes` begin 8 bytes seen
// before (at the last place with the same hash): structure that order-0
// entropy misses (a repeated ramp of all 256 byte values measures 8.0, and a
// random block repeated too).
bool repeats_itself(std::span<const std::uint8_t> bytes);

// Whether every kSampleBytes window of `bytes` has the entropy of
// incompressible data and no more than 1/64 of the anchored 8-byte runs
// repeat, at any distance.
bool looks_incompressible_throughout(std::span<const std::uint8_t> bytes);

// What judge_input found.
enum class input_verdict {
  // A window of low entropy (or input too short to judge): the encoder gets
  // it, and a probe may still give up on it (a JPEG measures 7.9-7.98).
  compressible,
  // High entropy throughout and no repeats: no encoder needs to see it.
  incompressible,
  // High entropy throughout, but it repeats itself or what came before it:
  // compressed whole, without a probe, which might give up before it
  // reached the copy.
  repeats,
};

// Judges input that the sample does not (anything but a short file that is
// a folder of its own) before any encoder sees it: whether every
// kSampleBytes window has the entropy of incompressible data, and whether
// more than 1/1024 of the anchored 8-byte runs repeat, within it or from
// `before` (the dictionary's input before it, when at hand). On such data a
// duplicate, whole or in part, is what LZMA saves (23 % of the bytes of
// /usr/share's high-entropy files are whole copies). `visit` delivers the
// input in order to the sink it gets, and is called at most twice.
// The sink returns whether it wants more: `visit` need not deliver the rest
// once it said no (text is judged by its first window, and a part's files
// may be slow to read).
using judged_sink = std::function<bool(std::span<const std::uint8_t>)>;
input_verdict judge_input(const std::function<void(const judged_sink&)>& visit, std::uint64_t input_bytes,
                          std::span<const std::uint8_t> before);

// The most an LZMA2 uncompressed chunk holds.
inline constexpr std::size_t kUncompressedChunkMax = 64 * 1024;

// Writes `input` as LZMA2 uncompressed chunks that keep the dictionary (the
// stream must have reset it before), or whose first resets it. No end marker.
void write_uncompressed_chunks(std::span<const std::uint8_t> input, const span_sink& output,
                               bool first_resets_dictionary = false);

}  // namespace sevenzfs::archive
