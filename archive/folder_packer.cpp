#include "folder_packer.hpp"

#include "archive_error.hpp"
#include "crc32.hpp"
#include "lzma_settings.hpp"
#include "parallel_encoder.hpp"
#include "shrink_probe.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <deque>

namespace sevenzfs::archive {

namespace {

// The shortest primer of a continuation (when the dictionary is not smaller).
constexpr std::uint64_t kMinPrimerBytes = 1 << 20;

// Reads an entry's content through `sink`, checking that it has the size it
// was declared with (a file that changes while it is archived must not produce
// an archive whose sizes disagree with its data). Returns the content's CRC.
// `progress` (may be null) hears of every piece read.
std::uint32_t read_entry(const entry& e, const span_sink& sink, const std::function<void(std::uint64_t)>* progress) {
  crc32 crc;
  std::uint64_t seen = 0;
  bool in_sink = false;
  try {
    if (e.content) {
      e.content->visit([&](std::span<const std::uint8_t> bytes) {
        seen += bytes.size();
        if (seen > e.size) return;  // reported below, once the visit is over
        crc.update(bytes);
        in_sink = true;
        sink(bytes);
        in_sink = false;
        if (progress && *progress) (*progress)(bytes.size());
      });
    }
  } catch (const archive_error& error) {
    // Content read back from packed data names its stream, not the file.
    if (in_sink) throw;
    throw about_file(error, e.path);
  }
  if (seen != e.size) {
    throw archive_error(error_kind::invalid_input, e.path,
                        fmt::format("size changed while archiving (expected {} bytes, read {})", e.size, seen));
  }
  return crc.value();
}

// Delivers a folder's input to `sink`, entry after entry, until it wants no
// more (read_entry checks the sizes when the folder is written). A visit
// has no way to stop but an exception: the judge wants the first 16 KiB of
// text, and the first file may be a large one on disk, or one decoded from
// an archive.
void visit_folder(std::span<const entry> entries, const folder_plan& folder, const judged_sink& sink) {
  struct enough {};
  try {
    for (const auto index : folder.entries) {
      const entry& e = entries[index];
      if (!e.content) continue;
      try {
        e.content->visit([&](std::span<const std::uint8_t> bytes) {
          if (!sink(bytes)) throw enough{};
        });
      } catch (const archive_error& error) {
        throw about_file(error, e.path);
      }
    }
  } catch (const enough&) {
  }
}

coder_info lzma2_coder(const lzma_options_lzma& options) { return {kMethodLzma2, {lzma2_property_byte(options)}}; }
coder_info copy_coder() { return {kMethodCopy, {}}; }

}  // namespace

std::uint64_t compression_memory_bytes(const compression_options& options) {
  if (options.level <= 0) return 0;
  const lzma_options_lzma lzma_options = lzma2_options_for(options.level, UINT64_MAX);
  const lzma_filter filters[2] = {{LZMA_FILTER_LZMA2, const_cast<lzma_options_lzma*>(&lzma_options)},
                                  {LZMA_VLI_UNKNOWN, nullptr}};
  const std::uint64_t encoder = lzma_raw_encoder_memusage(filters);
  if (encoder == UINT64_MAX) throw archive_error(error_kind::compression, "", "liblzma cannot estimate encoder memory");
  const unsigned threads = std::max(options.threads, 1u);
  if (threads == 1) return encoder;
  // The longest parts a folder of any size is cut into.
  const std::uint64_t part_bytes =
      part_bytes_for(lzma_options.dict_size, UINT64_MAX / 2, threads, options.max_part_bytes);
  return threads * encoder + parallel_buffer_bytes(threads, part_bytes, lzma_options.dict_size);
}

folder_packer::folder_packer(output_file& out, archive_database& db, const compression_options& options)
    : out_(out), db_(db), options_(options) {
  if (options_.level < 0 || options_.level > kMaxLevel) {
    throw archive_error(error_kind::invalid_option, "",
                        fmt::format("compression level {} is not in 0-{}", options_.level, kMaxLevel));
  }
  if (options_.threads == 0) throw archive_error(error_kind::invalid_option, "", "thread count must be at least 1");
}

folder_packer::~folder_packer() = default;

void folder_packer::pack(std::span<const entry> entries, const std::vector<folder_plan>& plan) {
  if (options_.threads > 1 && options_.level > 0) {
    pack_parallel(entries, plan);
    return;
  }
  for (const auto& folder : plan) pack_serial(entries, folder);
}

void folder_packer::pack_serial(std::span<const entry> entries, const folder_plan& folder) {
  const std::uint64_t start = out_.position();
  const span_sink to_file = [this](std::span<const std::uint8_t> bytes) { out_.append(bytes); };
  std::vector<std::uint32_t> crcs;
  crcs.reserve(folder.entries.size());

  coder_info coder = copy_coder();
  // A folder of several files, which the probe never gives up on, is
  // judged whole first, as a parallel part is (parallel_encoder.cpp), and
  // stored without an encoder when incompressible throughout: the match
  // finder would pass over all of it (several times 7-Zip's time) for a
  // folder stored in the end. A file of its own has its sample or probe.
  const bool one_file = folder.entries.size() == 1;
  const auto drop_input = shrink_probe::after_giving_up::drop_input;
  const input_verdict judged =
      options_.level <= 0 || one_file
          ? input_verdict::compressible
          : judge_input([&](const judged_sink& sink) { visit_folder(entries, folder, sink); }, folder.unpack_size, {});
  if (options_.level > 0 && judged != input_verdict::incompressible) {
    const auto lzma_options = lzma2_options_for(options_.level, folder.unpack_size);
    serial_encoder_.start(lzma_options);
    // Input that repeats is compressed whole: its start may hold none of
    // the copy.
    shrink_probe probe(one_file && judged == input_verdict::compressible, folder.unpack_size, drop_input);
    const span_sink to_encoder = [&](std::span<const std::uint8_t> bytes) {
      probe.write(serial_encoder_, bytes, to_file);
    };
    for (auto index : folder.entries) crcs.push_back(read_entry(entries[index], to_encoder, &options_.progress));
    if (!probe.gave_up()) serial_encoder_.finish(to_file, true);
    coder = lzma2_coder(lzma_options);
    if (!probe.gave_up() && out_.position() - start < folder.unpack_size) {
      record(entries, folder, coder, out_.position() - start, crcs);
      return;
    }
    // Did not shrink: store it instead, re-reading the (unchanged) content.
    if (probe.gave_up()) ++given_up_folders_;
    out_.truncate(start);
    coder = copy_coder();
  } else if (judged == input_verdict::incompressible) {
    ++given_up_folders_;
  }
  // Progress was reported on the first reading, if there was one.
  const auto* progress = crcs.empty() ? &options_.progress : nullptr;
  std::vector<std::uint32_t> stored_crcs;
  stored_crcs.reserve(folder.entries.size());
  for (auto index : folder.entries) stored_crcs.push_back(read_entry(entries[index], to_file, progress));
  if (!crcs.empty() && crcs != stored_crcs) {
    throw archive_error(error_kind::invalid_input, entries[folder.entries.front()].path,
                        "content changed while archiving");
  }
  record(entries, folder, coder, out_.position() - start, stored_crcs);
}

void folder_packer::pack_parallel(std::span<const entry> entries, const std::vector<folder_plan>& plan) {
  struct pending_folder {
    const folder_plan* plan = nullptr;
    coder_info coder;
    std::vector<std::uint32_t> crcs;
  };
  // Folders whose input was read and whose packed bytes are not all written, oldest first.
  std::deque<pending_folder> pending;
  const auto record_oldest = [&](const packed_folder& packed) {
    const pending_folder& folder = pending.front();
    record(entries, *folder.plan, packed.stored ? copy_coder() : folder.coder, packed.pack_size, folder.crcs);
    pending.pop_front();
  };
  parallel_encoder encoder(
      options_.threads, [this](std::span<const std::uint8_t> bytes) { out_.append(bytes); }, options_.progress);
  const span_sink to_encoder = [&encoder](std::span<const std::uint8_t> bytes) { encoder.write(bytes); };
  for (const auto& folder : plan) {
    const auto lzma_options = lzma2_options_for(options_.level, folder.unpack_size);
    pending.push_back({&folder, lzma2_coder(lzma_options), {}});
    pending.back().crcs.reserve(folder.entries.size());
    encoder.begin_folder(lzma_options, folder.unpack_size, record_oldest, options_.max_part_bytes,
                         folder.entries.size() == 1);
    for (auto index : folder.entries) {
      const std::uint32_t crc = read_entry(entries[index], to_encoder, nullptr);  // may record older folders
      pending.back().crcs.push_back(crc);
    }
    encoder.end_folder();
  }
  encoder.finish();
}

std::uint64_t continuation_reset_bytes_for(int level) {
  constexpr std::uint64_t kMinimum = std::uint64_t{64} << 20;
  return std::max<std::uint64_t>(kMinimum, 4 * std::uint64_t{level_dictionary_size(std::clamp(level, 1, kMaxLevel))});
}

bool folder_packer::pack_continued(const entry& e, const folder_continuation& from, bool prefix_in_place) {
  if (options_.level <= 0 || !e.content || e.size <= from.prefix_bytes) return false;
  // The encoder is the level's, whatever the archived one was; the folder
  // declares the larger dictionary, since the archived chunks' matches may
  // reach as far back as theirs.
  const lzma_options_lzma lzma_options = lzma2_options_for(options_.level, e.size);
  lzma_options_lzma declared = lzma_options;
  declared.dict_size = std::max(lzma_options.dict_size, from.dict_size);
  // The primer's pass costs about what compressing it would: bounded by
  // twice the new bytes (at least kMinPrimerBytes), a commit costs a small
  // multiple of its new data, not a dictionary's pass each time. Measured on
  // a service log (tools/bench-log.sh, 1 MiB per commit, level 5): 8.1 s a
  // commit with the whole 16 MiB dictionary, 0.95 s with 2 MiB, the sizes
  // within 0.1 % of each other. A commit of half a dictionary or more is
  // primed with all of it, as before.
  const std::uint64_t primer_bytes = std::min<std::uint64_t>(
      lzma_options.dict_size, std::max<std::uint64_t>(2 * (e.size - from.prefix_bytes), kMinPrimerBytes));
  // Past the reset interval the continuation resets the dictionary rather
  // than prime: a seek point for readers, and no primer pass. On a service
  // log this costs nothing (two 64 MiB streams were 0.1 % smaller than one
  // 128 MiB stream); on data that repeats across the point it costs what
  // a dictionary of context is worth there (a 108 MB tar of a blob cache
  // cut once at 64 MiB: 9.7 % larger).
  const std::uint64_t reset_bytes = options_.continuation_reset_bytes > 0
                                        ? options_.continuation_reset_bytes
                                        : continuation_reset_bytes_for(options_.level);
  const bool resets = from.prefix_bytes - from.last_dictionary_reset >= reset_bytes;
  const std::uint64_t primer_from =
      resets ? from.prefix_bytes
             : std::max(from.prefix_bytes - std::min(from.prefix_bytes, primer_bytes), from.last_dictionary_reset);
  const std::uint64_t start = out_.position();
  const span_sink to_file = [this](std::span<const std::uint8_t> bytes) { out_.append(bytes); };
  const auto report = [this](std::uint64_t bytes) {
    if (options_.progress) options_.progress(bytes);
  };

  // A start the content vouches for as the archived stream's is trusted, not
  // read: only its cheap end primes the encoder, and without one the
  // continuation resets the dictionary (a valid LZMA2 stream still, at some
  // cost in ratio).
  const auto known = e.content->starts_archived();
  const bool trusted = known && known->bytes == from.prefix_bytes;
  std::optional<parallel_encoder> parallel;
  crc32 prefix_crc;
  crc32 appended_crc;
  std::vector<std::uint8_t> primer;
  std::uint64_t seen = 0;
  struct cannot_continue {};
  // The prefix is checked against the archived CRC before anything is
  // written; the continuation begins once it has been seen whole.
  const auto go_on = [&] {
    if (!trusted && prefix_crc.value() != from.prefix_crc) {
      ++mismatched_prefixes_;
      throw cannot_continue{};
    }
    // The parallel encoder's workers start their encoders only once input
    // comes, after the prefix is copied: options liblzma refuses are caught
    // here for both.
    const lzma_filter filters[2] = {{LZMA_FILTER_LZMA2, const_cast<lzma_options_lzma*>(&lzma_options)},
                                    {LZMA_VLI_UNKNOWN, nullptr}};
    if (lzma_raw_encoder_memusage(filters) == UINT64_MAX) throw cannot_continue{};
    try {
      if (options_.threads > 1) {
        parallel.emplace(options_.threads, to_file, options_.progress);
        parallel->begin_folder(
            lzma_options, e.size - from.prefix_bytes, [](const packed_folder&) {}, options_.max_part_bytes, false,
            primer);
      } else {
        serial_encoder_.start(lzma_options, primer);
      }
    } catch (const archive_error& error) {
      if (error.kind() != error_kind::compression) throw;
      throw cannot_continue{};  // compressing the whole file may still work
    }
    primer = {};
    // The prefix is not reported as progress: it is copied, not compressed,
    // and the daemon's pending figure leaves it out.
    if (!prefix_in_place) out_.append_copy(from.fd, from.packed.offset, from.kept_packed_bytes, std::string(from.path));
  };
  bool in_output = false;  // an error there is about the archive, not the file
  const auto compress = [&](std::span<const std::uint8_t> bytes) {
    appended_crc.update(bytes);
    in_output = true;
    if (parallel) {
      parallel->write(bytes);
    } else {
      serial_encoder_.write(bytes, to_file);
      report(bytes.size());
    }
    in_output = false;
  };
  const auto compress_rest = [&](std::span<const std::uint8_t> bytes) {
    compress(bytes);
    seen += bytes.size();
  };
  try {
    if (trusted) {
      const std::uint64_t cheap = std::max(primer_from, known->cheap_from);
      if (cheap < from.prefix_bytes) {
        e.content->visit_range(cheap, from.prefix_bytes - cheap, [&](std::span<const std::uint8_t> bytes) {
          primer.insert(primer.end(), bytes.begin(), bytes.end());
        });
      }
      seen = from.prefix_bytes;
      in_output = true;
      go_on();
      in_output = false;
      e.content->visit_range(from.prefix_bytes, e.size - from.prefix_bytes, compress_rest);
    } else {
      e.content->visit([&](std::span<const std::uint8_t> bytes) {
        if (seen + bytes.size() > e.size) {
          seen += bytes.size();
          return;  // reported below, once the visit is over
        }
        if (seen < from.prefix_bytes) {
          const auto head =
              bytes.first(static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), from.prefix_bytes - seen)));
          prefix_crc.update(head);
          if (seen + head.size() > primer_from) {
            primer.insert(primer.end(),
                          head.begin() + static_cast<std::ptrdiff_t>(seen >= primer_from ? 0 : primer_from - seen),
                          head.end());
          }
          seen += head.size();
          bytes = bytes.subspan(head.size());
          if (seen == from.prefix_bytes) {
            in_output = true;
            go_on();
            in_output = false;
          }
        }
        if (!bytes.empty()) compress_rest(bytes);
      });
    }
  } catch (const cannot_continue&) {
    parallel.reset();
    out_.truncate(start);
    return false;
  } catch (const archive_error& error) {
    if (in_output) throw;
    throw about_file(error, e.path);
  }
  if (seen != e.size) {
    throw archive_error(error_kind::invalid_input, e.path,
                        fmt::format("size changed while archiving (expected {} bytes, read {})", e.size, seen));
  }
  if (parallel) {
    parallel->end_folder();
    parallel->finish();
  } else {
    serial_encoder_.finish(to_file, true);
  }
  const std::uint64_t appended = e.size - from.prefix_bytes;
  const folder_plan alone{{0}, e.size};
  const std::uint64_t in_place = prefix_in_place ? from.kept_packed_bytes : 0;
  record(std::span(&e, 1), alone, lzma2_coder(declared), in_place + out_.position() - start,
         {crc32::combine(from.prefix_crc, appended_crc.value(), appended)});
  return true;
}

void folder_packer::record(std::span<const entry> entries, const folder_plan& folder, const coder_info& coder,
                           std::uint64_t pack_size, const std::vector<std::uint32_t>& crcs) {
  db_.folders.push_back(make_folder(coder, folder.unpack_size));
  db_.pack_sizes.push_back(pack_size);
  db_.substream_counts.push_back(folder.entries.size());
  for (std::size_t k = 0; k < folder.entries.size(); ++k) {
    const entry& e = entries[folder.entries[k]];
    db_.substream_sizes.push_back(e.size);
    db_.substream_crcs.emplace_back(crcs[k]);
    db_.files.push_back(describe_entry(e));
  }
}

}  // namespace sevenzfs::archive
