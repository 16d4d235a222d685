#include "pending_part.hpp"

#include "archive_error.hpp"
#include "crc32.hpp"
#include "shrink_probe.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

namespace sevenzfs::archive {

void primer_slot::publish(std::unique_ptr<metered_bytes> primer) {
  {
    std::lock_guard lock(mutex_);
    primer_ = std::move(primer);
    done_ = true;
  }
  ready_.notify_all();
}

void primer_slot::fail(std::exception_ptr error) {
  {
    std::lock_guard lock(mutex_);
    if (done_) return;
    error_ = std::move(error);
    done_ = true;
  }
  ready_.notify_all();
}

std::unique_ptr<metered_bytes> primer_slot::wait() {
  std::unique_lock lock(mutex_);
  ready_.wait(lock, [this] { return done_; });
  if (error_) std::rethrow_exception(error_);
  return std::move(primer_);
}

namespace {

// Delivers a piece's bytes to `sink`; returns their CRC. The content must
// hold the whole piece (a file that shrank after it was handed over is an
// input error, never a short folder).
std::uint32_t feed(const pending_piece& piece, const span_sink& sink) {
  crc32 crc;
  std::uint64_t seen = 0;
  piece.content->visit_range(piece.offset, piece.size, [&](std::span<const std::uint8_t> bytes) {
    if (seen + bytes.size() > piece.size) bytes = bytes.first(static_cast<std::size_t>(piece.size - seen));
    seen += bytes.size();
    crc.update(bytes);
    sink(bytes);
  });
  if (seen != piece.size) {
    throw archive_error(error_kind::invalid_input, piece.path,
                        fmt::format("size changed while archiving (bytes {}-{} missing)", piece.offset + seen,
                                    piece.offset + piece.size));
  }
  return crc.value();
}

// Delivers the part's input to `sink`, piece after piece, until it wants no
// more: no piece after that is read (feed checks the sizes when the part is
// written).
void visit_input(const pending_part& part, const judged_sink& sink) {
  bool more = true;
  for (const auto& piece : part.pieces) {
    if (!more) return;
    piece.content->visit_range(piece.offset, piece.size, [&](std::span<const std::uint8_t> bytes) {
      if (more) more = sink(bytes);
    });
  }
}

bool from_one_file(const pending_part& part) {
  return std::all_of(part.pieces.begin(), part.pieces.end(),
                     [&](const pending_piece& piece) { return piece.file_index == part.pieces.front().file_index; });
}

// `compressed`: the pieces were read once already and carry their CRCs.
void store(pending_part& part, bool compressed) {
  std::vector<std::uint32_t> crcs;
  for (auto& piece : part.pieces) crcs.push_back(feed(piece, [&](auto bytes) { part.packed->append(bytes); }));
  for (std::size_t k = 0; k < part.pieces.size(); ++k) {
    // Compressed first: what was read then must be what is stored now.
    if (compressed && part.pieces[k].crc != crcs[k]) {
      throw archive_error(error_kind::invalid_input, part.pieces[k].path, "content changed while archiving");
    }
    part.pieces[k].crc = crcs[k];
  }
  part.stored = true;
}

// Input that the sample does not judge (shrink_probe.hpp) is judged whole:
// incompressible, it is written without an encoder, whose match finder
// would take several times 7-Zip's time over it (a solid lane of random
// files: 66 s of CPU for 83 MB against 7zz's 20) to store it anyway.
input_verdict judge(const pending_part& part, const metered_bytes* primer) {
  const bool alone = part.first && part.last;
  const auto after = alone ? shrink_probe::after_giving_up::drop_input : shrink_probe::after_giving_up::raw_chunks;
  if (shrink_probe::samples(from_one_file(part), part.input_bytes, after)) return input_verdict::compressible;
  // The dictionary's input before it, when at hand (a part whose primer a
  // split dropped has none: only its own repeats show).
  const std::span<const std::uint8_t> before =
      primer != nullptr ? std::span<const std::uint8_t>(primer->bytes()) : std::span<const std::uint8_t>();
  return judge_input([&](const judged_sink& sink) { visit_input(part, sink); }, part.input_bytes,
                     before.last(std::min<std::size_t>(before.size(), part.options.dict_size)));
}

// Writes the part's input as LZMA2 uncompressed chunks (the folder's first
// resets the dictionary), buffered into whole chunks. The encoder's stream,
// if the part continues one, lacks this input: the part counts as given up,
// so the next part does not write on in it.
void write_uncompressed(pending_part& part) {
  part.packed->bytes().reserve(static_cast<std::size_t>(lzma2_packed_bound(part.input_bytes)));
  const span_sink collect = [&part](std::span<const std::uint8_t> bytes) { part.packed->append(bytes); };
  std::vector<std::uint8_t> chunk;
  chunk.reserve(kUncompressedChunkMax);
  bool first = part.first;
  const auto write_chunk = [&] {
    write_uncompressed_chunks(chunk, collect, first);
    first = false;
    chunk.clear();
  };
  for (auto& piece : part.pieces) {
    piece.crc = feed(piece, [&](std::span<const std::uint8_t> bytes) {
      part.input_done.fetch_add(bytes.size(), std::memory_order_relaxed);
      while (!bytes.empty()) {
        const std::size_t taken = std::min(bytes.size(), kUncompressedChunkMax - chunk.size());
        chunk.insert(chunk.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(taken));
        bytes = bytes.subspan(taken);
        if (chunk.size() == kUncompressedChunkMax) write_chunk();
      }
    });
  }
  if (!chunk.empty()) write_chunk();
  if (part.last) collect(std::span(&kLzma2EndMarker, 1));
  part.given_up = true;
}

// Compresses the part's input with an encoder that was started (or whose
// stream the part continues). `probe_decided` gets, once, whether the probe
// gave up, as soon as that is known. `may_probe`: unless the part was
// judged to repeat (it is compressed whole then).
void compress_started(pending_part& part, lzma2_encoder& encoder, bool may_probe,
                      const std::function<void(bool)>& probe_decided) {
  // Reserved for the worst case, which costs address space only.
  part.packed->bytes().reserve(static_cast<std::size_t>(lzma2_packed_bound(part.input_bytes)));
  const span_sink collect = [&part](std::span<const std::uint8_t> bytes) { part.packed->append(bytes); };
  const bool alone = part.first && part.last;
  shrink_probe probe(may_probe && from_one_file(part), part.input_bytes,
                     alone ? shrink_probe::after_giving_up::drop_input : shrink_probe::after_giving_up::raw_chunks);
  bool told = false;
  const span_sink to_encoder = [&](std::span<const std::uint8_t> bytes) {
    probe.write(encoder, bytes, collect);
    part.input_done.fetch_add(bytes.size(), std::memory_order_relaxed);
    if (!told && probe.decided()) {
      told = true;
      probe_decided(probe.gave_up());
    }
  };
  for (auto& piece : part.pieces) piece.crc = feed(piece, to_encoder);
  if (!told) probe_decided(probe.gave_up());
  if (probe.end_given_up(part.last, collect)) {
    part.given_up = true;
  } else if (part.last) {
    encoder.finish(collect, true);
  } else {
    encoder.flush(collect);
  }
  if (alone && (part.given_up || part.packed->bytes().size() >= part.input_bytes)) {
    part.packed->clear();
    store(part, true);
  }
}

}  // namespace

void compress_part(pending_part& part, lzma2_encoder& encoder, int level, memory_meter& meter) {
  try {
    std::unique_ptr<metered_bytes> primer = part.primer_in ? part.primer_in->wait() : std::move(part.primer_made);
    part.primer_in.reset();
    part.packed = std::make_unique<metered_bytes>(meter);
    const input_verdict verdict =
        level > 0 && part.input_bytes > 0 ? judge(part, primer.get()) : input_verdict::compressible;
    const bool judged = verdict == input_verdict::incompressible;
    const bool compresses = level > 0 && part.input_bytes > 0 && !judged;
    const bool may_probe = verdict == input_verdict::compressible;
    const bool probes = compresses && may_probe && shrink_probe::probes(from_one_file(part), part.input_bytes);
    if (compresses && !part.continues) {
      encoder.start(part.options,
                    primer ? std::span<const std::uint8_t>(primer->bytes()) : std::span<const std::uint8_t>());
      part.primed = primer != nullptr;
    }
    // The encoder has copied its primer: the same buffer becomes the next
    // part's, so that a worker holds one dictionary of primer, not two. Once
    // the part's probe gave up, none: the next part resets the dictionary
    // (see shrink_probe.hpp). So a part that probes hands it over once the
    // probe decided, a moment after it started.
    const auto hand_over = [&](bool gave_up) {
      if (!part.primer_out) return;
      part.primer_out->publish(gave_up ? nullptr
                                       : next_primer(std::move(primer), part.pieces, part.options.dict_size, meter));
      part.primer_out.reset();
      primer.reset();
    };
    if (!probes) hand_over(false);
    if (!part.primer_out) primer.reset();
    part.without_encoder = judged;
    if (level <= 0 || (judged && part.first && part.last)) {
      store(part, false);
      part.given_up = judged;
    } else if (judged) {
      write_uncompressed(part);
    } else if (part.input_bytes == 0) {
      // A folder ended right after a part was cut: only its end marker is missing.
      part.packed->append(std::span(&kLzma2EndMarker, 1));
    } else {
      compress_started(part, encoder, may_probe, hand_over);
    }
  } catch (...) {
    if (part.primer_out) part.primer_out->fail(std::current_exception());
    throw;
  }
}

std::unique_ptr<metered_bytes> next_primer(std::unique_ptr<metered_bytes> before,
                                           const std::vector<pending_piece>& pieces, std::uint32_t dict_size,
                                           memory_meter& meter) {
  std::uint64_t input = 0;
  for (const auto& piece : pieces) input += piece.size;
  const std::uint64_t earlier = before ? before->bytes().size() : 0;
  const std::uint64_t wanted = std::min<std::uint64_t>(dict_size, earlier + input);
  auto primer = before ? std::move(before) : std::make_unique<metered_bytes>(meter);
  primer->keep_last(static_cast<std::size_t>(wanted > input ? wanted - input : 0));
  primer->bytes().reserve(static_cast<std::size_t>(wanted));
  std::uint64_t skip = input > wanted ? input - wanted : 0;
  for (const auto& piece : pieces) {
    if (skip >= piece.size) {
      skip -= piece.size;
      continue;
    }
    pending_piece tail = piece;
    tail.offset += skip;
    tail.size -= skip;
    skip = 0;
    feed(tail, [&](std::span<const std::uint8_t> bytes) { primer->append(bytes); });
  }
  return primer;
}

}  // namespace sevenzfs::archive
