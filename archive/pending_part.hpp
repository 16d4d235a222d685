#pragma once
// The unit of work of pending_folders: a part of one folder's input, made
// of pieces of handed-over files (referred to, not copied: the caller's
// memory is the input buffer), compressed on a worker into a buffer of
// packed bytes that is then written in folder order. A part after the first
// of its folder carries a primer: the dictionary-size bytes of input before
// it (see lzma2_encoder.hpp), which the worker of the part before it makes
// while that part's files are still held, and hands over through a
// primer_slot. It makes it as soon as its encoder has started, or once its
// input was judged incompressible and needs no encoder (a part that probes
// its input, once the probe decided: none when it gave up, see
// shrink_probe.hpp), in the buffer of its own primer, which the encoder has
// copied by then: a chain of parts holds one primer, not up to three. A worker takes a part only once
// its predecessor has started, so the primer is on its way when it waits
// for it (a match-finder pass over the primer behind, which in the steady
// state overlaps the other workers' parts). A part taken ahead of its
// predecessors (an idle worker splitting off the end of a busy worker's
// chain, see pending_folders::split_point) gets its primer made by its own
// worker from the part before it instead (primer_made), and starts a chain
// of its own; the parts left to the busy worker then carry no primer, and
// one of them taken by another worker after all starts a dictionary of its
// own (take_ahead).
// The worker that compressed a part's predecessor needs no primer: its
// encoder still holds the dictionary, and the part continues its stream
// (unless the predecessor gave up compressing, see shrink_probe.hpp).
#include "entry.hpp"
#include "lzma2_encoder.hpp"
#include "metered_bytes.hpp"

#include <lzma.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace sevenzfs::archive {

// The primer one part hands to the next.
class primer_slot {
 public:
  void publish(std::unique_ptr<metered_bytes> primer);
  // The predecessor failed: the waiting part fails too. No effect once published.
  void fail(std::exception_ptr error);
  // Waits for the primer; rethrows the predecessor's failure.
  std::unique_ptr<metered_bytes> wait();

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  bool done_ = false;
  std::unique_ptr<metered_bytes> primer_;
  std::exception_ptr error_;
};

using pending_id = std::uint64_t;

struct pending_piece {
  std::shared_ptr<const entry_content> content;
  std::string path;  // names the file in errors
  pending_id id = 0;
  std::size_t file_index = 0;  // in its folder
  std::uint64_t offset = 0;    // of the file's content
  std::uint64_t size = 0;
  bool file_ends = false;  // the file's last piece
  std::uint32_t crc = 0;   // set by compress_part
};

struct pending_folder_record;

struct pending_part {
  std::shared_ptr<pending_folder_record> folder;
  lzma_options_lzma options{};
  // Null for a folder's first part, and for parts left to a busy worker's
  // stream when another split off the end of its chain.
  std::shared_ptr<primer_slot> primer_in;
  std::shared_ptr<primer_slot> primer_out;  // null for its last part, and when storing
  // Instead of primer_in's, for a part taken ahead of its predecessors.
  std::unique_ptr<metered_bytes> primer_made;
  std::uint64_t index = 0;  // in its folder
  bool first = false;
  bool last = false;
  // Set when a worker takes the part: its encoder's stream stands at the end
  // of the part before (it compressed that one last), so it writes on.
  bool continues = false;
  std::vector<pending_piece> pieces;
  std::uint64_t input_bytes = 0;
  std::uint64_t input_before = 0;  // the folder's input in the parts before it
  std::uint64_t sequence = 0;      // order of cutting, over all folders
  // Input handed to the encoder so far (compress_part; read by the owner's
  // scheduling while it runs).
  std::atomic<std::uint64_t> input_done{0};

  // Set by compress_part.
  std::unique_ptr<metered_bytes> packed;
  bool stored = false;  // `packed` is the input itself (Copy coder)
  bool primed = false;  // its encoder started from a primer
  // Its probe, or the judgement before it, found its input incompressible
  // (see shrink_probe.hpp): it is stored, or its rest is uncompressed
  // chunks, which the encoder's stream lacks, so the next part must not
  // continue that stream.
  bool given_up = false;
  // Judged incompressible before any encoder saw it (shrink_probe.hpp): no
  // stream was written on, whatever `continues` says.
  bool without_encoder = false;
  // Set under the owner's lock.
  bool finished = false;
  std::exception_ptr error;
};

// Takes the part's primer (primer_in's, else primer_made), hands the next
// part its own, and compresses the part's input (level 0: copies it) into
// part.packed, setting each piece's CRC. A part that continues the
// encoder's stream needs no primer; every part but the last is flushed, not
// finished, so that the next one may continue (one that gave up ends in
// uncompressed chunks instead).
// A folder of one part that does not shrink is stored, input of one file
// whose start does not shrink is not compressed, and neither is other input
// that looks incompressible throughout and repeats nothing before it
// (shrink_probe.hpp: no encoder runs; the next part still gets its primer). Throws
// archive_error (a piece whose content is shorter than declared:
// invalid_input); the next part's primer slot then fails too.
void compress_part(pending_part& part, lzma2_encoder& encoder, int level, memory_meter& meter);

// The last `dict_size` bytes of `before` (the part's own primer, or null)
// followed by the pieces' input: the primer of the part after them, in
// `before`'s buffer.
std::unique_ptr<metered_bytes> next_primer(std::unique_ptr<metered_bytes> before,
                                           const std::vector<pending_piece>& pieces, std::uint32_t dict_size,
                                           memory_meter& meter);


}  // namespace sevenzfs::archive
