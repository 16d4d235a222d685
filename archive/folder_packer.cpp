#include "folder_packer.hpp"

#include "archive_error.hpp"
#include "crc32.hpp"
#include "lzma_settings.hpp"
#include "worker_pool.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <future>

namespace sevenzfs::archive {

namespace {

// Reads an entry's content through `sink`, checking that it has the size it
// was declared with (a file that changes while it is archived must not produce
// an archive whose sizes disagree with its data). Returns the content's CRC.
std::uint32_t read_entry(const entry& e, const span_sink& sink, const compression_options& options) {
  crc32 crc;
  std::uint64_t seen = 0;
  if (e.content) {
    e.content->visit([&](std::span<const std::uint8_t> bytes) {
      seen += bytes.size();
      if (seen > e.size) return;  // reported below, once the visit is over
      crc.update(bytes);
      sink(bytes);
      if (options.progress) options.progress(bytes.size());
    });
  }
  if (seen != e.size) {
    throw archive_error(error_kind::invalid_input, e.path,
                        fmt::format("size changed while archiving (expected {} bytes, read {})", e.size, seen));
  }
  return crc.value();
}

coder_info lzma2_coder(const lzma_options_lzma& options) { return {kMethodLzma2, {lzma2_property_byte(options)}}; }
coder_info copy_coder() { return {kMethodCopy, {}}; }

// Every part restarts the dictionary, which costs ratio (on redundant data
// over 10 % at 4 x dictionary), so a folder is cut into just enough parts
// to keep every thread busy: folder / threads, at least 4 x dictionary (and
// 1 MiB) as 7-Zip's block mode, at most the caller's memory cap.
std::uint64_t part_limit_for(int level, std::uint64_t folder_bytes, const compression_options& options) {
  const std::uint64_t maximum = std::max<std::uint64_t>(options.max_part_bytes, 1 << 20);
  const std::uint64_t minimum = std::max<std::uint64_t>(std::uint64_t{4} * level_dictionary_size(level), 1 << 20);
  const std::uint64_t even_share = (folder_bytes + options.threads - 1) / options.threads;
  return std::clamp<std::uint64_t>(even_share, std::min(minimum, maximum), maximum);
}

struct part_result {
  std::vector<std::uint8_t> packed;
  bool stored = false;  // the part is the whole folder and is kept uncompressed
};

}  // namespace

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
  if (options_.level > 0) {
    const auto lzma_options = lzma2_options_for(options_.level, folder.unpack_size);
    serial_encoder_.start(lzma_options);
    const span_sink to_encoder = [&](std::span<const std::uint8_t> bytes) { serial_encoder_.write(bytes, to_file); };
    for (auto index : folder.entries) crcs.push_back(read_entry(entries[index], to_encoder, options_));
    serial_encoder_.finish(to_file, true);
    coder = lzma2_coder(lzma_options);
    if (out_.position() - start < folder.unpack_size) {
      record(entries, folder, coder, out_.position() - start, crcs);
      return;
    }
    // Did not shrink: store it instead, re-reading the (unchanged) content.
    out_.truncate(start);
    coder = copy_coder();
  }
  std::vector<std::uint32_t> stored_crcs;
  stored_crcs.reserve(folder.entries.size());
  for (auto index : folder.entries) stored_crcs.push_back(read_entry(entries[index], to_file, options_));
  if (!crcs.empty() && crcs != stored_crcs) {
    throw archive_error(error_kind::invalid_input, entries[folder.entries.front()].path,
                        "content changed while archiving");
  }
  record(entries, folder, coder, out_.position() - start, stored_crcs);
}

void folder_packer::pack_parallel(std::span<const entry> entries, const std::vector<folder_plan>& plan) {
  std::uint64_t largest_folder = 0;
  for (const auto& folder : plan) largest_folder = std::max(largest_folder, folder.unpack_size);
  const std::uint64_t part_limit = part_limit_for(options_.level, largest_folder, options_);
  const std::uint64_t max_bytes_in_flight = (options_.threads + 1) * part_limit;
  constexpr std::size_t kMaxPartsInFlight = 256;

  struct pending_part {
    std::future<part_result> result;
    std::uint64_t input_bytes = 0;
    bool last = false;
  };
  struct pending_folder {
    const folder_plan* plan = nullptr;
    coder_info coder;
    std::vector<std::uint32_t> crcs;
    std::uint64_t pack_size = 0;
  };

  std::vector<std::unique_ptr<lzma2_encoder>> encoders;
  for (unsigned i = 0; i < options_.threads; ++i) encoders.push_back(std::make_unique<lzma2_encoder>());
  std::deque<pending_part> parts;
  std::deque<pending_folder> folders;
  std::uint64_t bytes_in_flight = 0;
  // Declared last so it is destroyed (joined) first, before what its jobs use.
  worker_pool pool(options_.threads);

  auto write_oldest = [&] {
    pending_part part = std::move(parts.front());
    parts.pop_front();
    bytes_in_flight -= part.input_bytes;
    part_result result = part.result.get();
    out_.append(result.packed);
    pending_folder& folder = folders.front();
    folder.pack_size += result.packed.size();
    if (result.stored) folder.coder = copy_coder();
    if (part.last) {
      record(entries, *folder.plan, folder.coder, folder.pack_size, folder.crcs);
      folders.pop_front();
    }
  };

  auto submit = [&](std::vector<std::uint8_t> input, const lzma_options_lzma& lzma_options, bool first, bool last) {
    while (!parts.empty() &&
           (bytes_in_flight + input.size() > max_bytes_in_flight || parts.size() >= kMaxPartsInFlight)) {
      write_oldest();
    }
    const std::uint64_t input_bytes = input.size();
    std::packaged_task<part_result(std::size_t)> task(
        [&encoders, input = std::move(input), lzma_options, first, last](std::size_t worker) mutable {
          part_result result;
          lzma2_encoder& encoder = *encoders[worker];
          const span_sink collect = [&](std::span<const std::uint8_t> bytes) {
            result.packed.insert(result.packed.end(), bytes.begin(), bytes.end());
          };
          encoder.start(lzma_options);
          encoder.write(input, collect);
          encoder.finish(collect, last);
          if (first && last && result.packed.size() >= input.size()) {
            result.packed = std::move(input);
            result.stored = true;
          }
          return result;
        });
    parts.push_back({task.get_future(), input_bytes, last});
    bytes_in_flight += input_bytes;
    pool.submit(std::move(task));
  };

  for (const auto& folder : plan) {
    const auto lzma_options = lzma2_options_for(options_.level, folder.unpack_size);
    folders.push_back({&folder, lzma2_coder(lzma_options), {}, 0});
    std::vector<std::uint8_t> part;
    part.reserve(static_cast<std::size_t>(std::min(part_limit, folder.unpack_size)));
    bool first = true;
    const span_sink to_parts = [&](std::span<const std::uint8_t> bytes) {
      while (!bytes.empty()) {
        if (part.size() == part_limit) {  // full, and more follows: not the last part
          submit(std::move(part), lzma_options, first, false);
          first = false;
          part = {};
          part.reserve(static_cast<std::size_t>(part_limit));
        }
        const auto take = std::min<std::size_t>(bytes.size(), static_cast<std::size_t>(part_limit - part.size()));
        part.insert(part.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
        bytes = bytes.subspan(take);
      }
    };
    for (auto index : folder.entries) folders.back().crcs.push_back(read_entry(entries[index], to_parts, options_));
    submit(std::move(part), lzma_options, first, true);
  }
  while (!parts.empty()) write_oldest();
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
