#include "header_parser.hpp"

#include "archive_error.hpp"
#include "byte_reader.hpp"
#include "archive_limits.hpp"
#include "files_info_parser.hpp"
#include "header_serializer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <set>

namespace sevenzfs::archive {

namespace {

using namespace property_id;
constexpr std::uint8_t kArchiveProperties = 0x02;
constexpr std::uint8_t kAdditionalStreamsInfo = 0x03;
// 7-Zip's own limit (7zIn.cpp) on the streams of a coder.
constexpr std::size_t kMaxCoderStreams = 64;

struct streams_info {
  std::uint64_t pack_position = 0;
  std::vector<std::uint64_t> pack_sizes;
  std::vector<folder_info> folders;
  std::vector<std::uint64_t> substream_counts;
  std::vector<std::uint64_t> substream_sizes;
  std::vector<std::optional<std::uint32_t>> substream_crcs;
};

void expect(byte_reader& in, std::uint8_t id, const char* what) {
  if (in.byte() != id) in.fail(fmt::format("expected {}", what));
}

std::uint64_t add(byte_reader& in, std::uint64_t a, std::uint64_t b, const char* what) {
  const auto sum = checked_add(a, b);
  if (!sum) in.fail(fmt::format("{} overflow 64 bits", what));
  return *sum;
}

std::uint64_t stream_size(byte_reader& in) {
  const auto size = in.number();
  if (size >= kMaxStreamSize) in.fail(fmt::format("a stream size of {} bytes", size));
  return size;
}

std::vector<std::optional<std::uint32_t>> read_digests(byte_reader& in, std::size_t count) {
  const auto defined = in.defined_vector(count);
  std::vector<std::optional<std::uint32_t>> crcs(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (defined[i]) crcs[i] = in.u32_le();
  }
  return crcs;
}

void read_pack_info(byte_reader& in, streams_info& s) {
  s.pack_position = in.number();
  const auto count = in.count();  // each pack stream has a size of at least one byte
  for (;;) {
    const auto id = in.byte();
    if (id == kEnd) break;
    if (id == kSize) {
      s.pack_sizes.resize(count);
      for (auto& pack_size : s.pack_sizes) pack_size = stream_size(in);
    } else if (id == kCrc) {
      read_digests(in, count);  // pack stream CRCs: not needed to append
    } else {
      in.fail(fmt::format("unknown PackInfo property {}", id));
    }
  }
  if (s.pack_sizes.size() != count) in.fail("PackInfo without sizes");
  // Where the packs end must be a position: 32 + pack_position + sizes.
  std::uint64_t end = add(in, kStartHeaderSize, s.pack_position, "the pack position");
  for (auto size : s.pack_sizes) end = add(in, end, size, "the pack streams");
}

// The coder graph must be a tree rooted at the folder's one unbound output:
// every coder reached once from it, no cycle (a decoder would loop or
// recurse forever), and at least one pack stream feeding it.
void check_coder_graph(byte_reader& in, const folder_graph& folder) {
  std::vector<std::size_t> owner_of_output;
  std::vector<std::size_t> first_input;
  std::size_t next_input = 0;
  for (std::size_t c = 0; c < folder.coders.size(); ++c) {
    first_input.push_back(next_input);
    next_input += folder.coders[c].in_streams;
    owner_of_output.insert(owner_of_output.end(), folder.coders[c].out_streams, c);
  }
  enum class mark : std::uint8_t { unseen, open, done };
  std::vector<mark> marks(folder.coders.size(), mark::unseen);
  // Depth-first with an explicit stack: (coder, next input to follow).
  std::vector<std::pair<std::size_t, std::uint32_t>> stack{{owner_of_output[folder.main_output()], 0}};
  marks[stack.back().first] = mark::open;
  while (!stack.empty()) {
    auto& [coder, next] = stack.back();
    if (next == folder.coders[coder].in_streams) {
      marks[coder] = mark::done;
      stack.pop_back();
      continue;
    }
    const std::uint64_t input = first_input[coder] + next++;
    const auto bound = std::ranges::find_if(folder.bind_pairs, [&](const bind_pair& p) { return p.in_index == input; });
    if (bound == folder.bind_pairs.end()) continue;  // fed by a pack stream
    const std::size_t source = owner_of_output[bound->out_index];
    if (marks[source] == mark::open) in.fail("the coders of a folder form a cycle");
    if (marks[source] == mark::unseen) {
      marks[source] = mark::open;
      stack.emplace_back(source, 0);
    }
  }
  if (std::ranges::any_of(marks, [](mark m) { return m != mark::done; })) in.fail("a coder that nothing reads");
}

folder_graph read_folder(byte_reader& in) {
  folder_graph folder;
  const auto coders = in.count();
  if (coders == 0 || coders > kMaxCoders) in.fail(fmt::format("a folder with {} coders", coders));
  for (std::size_t c = 0; c < coders; ++c) {
    const auto flag = in.byte();
    if (flag & 0x80) throw archive_error(error_kind::unsupported, in.context(), "alternative coder methods");
    coder_info coder;
    const auto id = in.bytes(flag & 0x0F);
    coder.method_id.assign(id.begin(), id.end());
    if (flag & 0x10) {
      const auto inputs = in.number();
      const auto outputs = in.number();
      if (inputs == 0 || inputs > kMaxCoderStreams || outputs == 0 || outputs > kMaxCoderStreams)
        in.fail("bad coder stream counts");
      coder.in_streams = static_cast<std::uint32_t>(inputs);
      coder.out_streams = static_cast<std::uint32_t>(outputs);
    }
    if (flag & 0x20) {
      const auto properties = in.bytes(in.number());
      coder.properties.assign(properties.begin(), properties.end());
    }
    folder.coders.push_back(std::move(coder));
  }
  const std::size_t inputs = folder.total_in_streams();
  const std::size_t outputs = folder.total_out_streams();
  if (outputs > kMaxCoderStreams || inputs > kMaxCoderStreams || inputs < outputs) in.fail("bad coder streams");
  std::set<std::uint64_t> bound_inputs;
  std::set<std::uint64_t> bound_outputs;
  for (std::size_t b = 0; b + 1 < outputs; ++b) {
    bind_pair pair{in.number(), in.number()};
    if (pair.in_index >= inputs || pair.out_index >= outputs || !bound_inputs.insert(pair.in_index).second ||
        !bound_outputs.insert(pair.out_index).second) {
      in.fail("bad bind pair");
    }
    folder.bind_pairs.push_back(pair);
  }
  const std::size_t packed = inputs - (outputs - 1);
  folder.packed_streams.clear();
  if (packed == 1) {
    for (std::uint64_t i = 0; i < inputs; ++i) {
      if (!bound_inputs.contains(i)) folder.packed_streams.push_back(i);
    }
  } else {
    std::set<std::uint64_t> packed_inputs;
    for (std::size_t p = 0; p < packed; ++p) {
      const auto index = in.number();
      if (index >= inputs || bound_inputs.contains(index) || !packed_inputs.insert(index).second)
        in.fail("bad packed stream index");
      folder.packed_streams.push_back(index);
    }
  }
  check_coder_graph(in, folder);
  return folder;
}

void read_unpack_info(byte_reader& in, streams_info& s) {
  expect(in, kFolder, "kFolder");
  const auto count = in.count();  // a folder takes at least two bytes
  if (in.byte() != 0) throw archive_error(error_kind::unsupported, in.context(), "folders in an additional stream");
  s.folders.reserve(count);
  // Folders of one method and settings share their graph (a batched
  // archive has one per dictionary size, a few dozen). Among this archive's
  // folders only: the writer's table is not for untrusted coders. The
  // previous folder's graph first: folders of one kind come in runs.
  constexpr std::size_t kMaxShared = 64;
  std::vector<std::shared_ptr<const folder_graph>> shared;
  for (std::size_t f = 0; f < count; ++f) {
    const auto graph = read_folder(in);
    if (!s.folders.empty() && s.folders.back().graph() == graph) {
      auto previous = s.folders.back().shared_graph();
      s.folders.emplace_back(std::move(previous));
      continue;
    }
    const auto same = std::ranges::find_if(shared, [&](const auto& seen) { return *seen == graph; });
    if (same != shared.end()) {
      s.folders.emplace_back(*same);
      continue;
    }
    auto made = std::make_shared<const folder_graph>(graph);
    if (shared.size() < kMaxShared) shared.push_back(made);
    s.folders.emplace_back(std::move(made));
  }
  expect(in, kCodersUnpackSize, "kCodersUnpackSize");
  std::uint64_t total = 0;
  for (auto& folder : s.folders) {
    folder.unpack_sizes.resize(folder.total_out_streams());
    for (auto& size : folder.unpack_sizes) size = stream_size(in);
    total = add(in, total, folder.unpack_size(), "the folder sizes");
  }
  for (;;) {
    const auto id = in.byte();
    if (id == kEnd) break;
    if (id != kCrc) in.fail(fmt::format("unknown UnpackInfo property {}", id));
    const auto crcs = read_digests(in, count);
    for (std::size_t f = 0; f < count; ++f) s.folders[f].unpack_crc = crcs[f];
  }
}

void read_substreams_info(byte_reader& in, streams_info& s) {
  s.substream_counts.assign(s.folders.size(), 1);
  auto id = in.byte();
  if (id == kNumUnpackStream) {
    // All but the last substream of a folder have a size of at least one byte.
    std::uint64_t total = 0;
    for (auto& n : s.substream_counts) {
      n = in.count();
      total += n;
      if (total > kMaxEntries) {
        throw archive_error(error_kind::unsupported, in.context(), fmt::format("more than {} files", kMaxEntries));
      }
    }
    id = in.byte();
  }
  const bool sizes_listed = id == kSize;
  for (std::size_t f = 0; f < s.folders.size(); ++f) {
    const auto n = s.substream_counts[f];
    if (n == 0) continue;
    std::uint64_t sum = 0;
    for (std::uint64_t k = 0; k + 1 < n; ++k) {
      if (!sizes_listed) in.fail("SubStreamsInfo without sizes");
      const auto substream = in.number();
      sum = add(in, sum, substream, "the sizes of a folder's files");
      s.substream_sizes.push_back(substream);
    }
    const std::uint64_t folder_size = s.folders[f].unpack_size();
    if (sum > folder_size) in.fail("substreams larger than their folder");
    s.substream_sizes.push_back(folder_size - sum);
  }
  if (sizes_listed) id = in.byte();
  std::size_t listed = 0;
  for (std::size_t f = 0; f < s.folders.size(); ++f) {
    const auto n = s.substream_counts[f];
    if (!(n == 1 && s.folders[f].unpack_crc)) listed += n;
  }
  std::vector<std::optional<std::uint32_t>> digests(listed);
  while (id != kEnd) {
    if (id != kCrc) in.fail(fmt::format("unknown SubStreamsInfo property {}", id));
    digests = read_digests(in, listed);
    id = in.byte();
  }
  std::size_t next = 0;
  for (std::size_t f = 0; f < s.folders.size(); ++f) {
    const auto n = s.substream_counts[f];
    if (n == 1 && s.folders[f].unpack_crc) {
      s.substream_crcs.push_back(s.folders[f].unpack_crc);
    } else {
      for (std::uint64_t k = 0; k < n; ++k) s.substream_crcs.push_back(digests[next++]);
    }
  }
}

streams_info read_streams_info(byte_reader& in) {
  streams_info s;
  auto id = in.byte();
  if (id == kPackInfo) {
    read_pack_info(in, s);
    id = in.byte();
  }
  if (id == kUnpackInfo) {
    read_unpack_info(in, s);
    id = in.byte();
  }
  if (id == kSubStreamsInfo) {
    read_substreams_info(in, s);
    id = in.byte();
  } else {
    s.substream_counts.assign(s.folders.size(), 1);
    for (const auto& folder : s.folders) {
      s.substream_sizes.push_back(folder.unpack_size());
      s.substream_crcs.push_back(folder.unpack_crc);
    }
  }
  if (id != kEnd) in.fail("expected the end of StreamsInfo");
  std::size_t pack_streams = 0;
  for (const auto& folder : s.folders) pack_streams += folder.packed_streams().size();
  if (pack_streams != s.pack_sizes.size()) {
    in.fail(fmt::format("the folders use {} pack streams but the archive lists {}", pack_streams, s.pack_sizes.size()));
  }
  return s;
}

}  // namespace

archive_database parse_header(std::span<const std::uint8_t> header, const std::string& path) {
  byte_reader in(header, path);
  expect(in, kHeader, "kHeader");
  archive_database db;
  auto id = in.byte();
  if (id == kArchiveProperties) {
    while (in.byte() != kEnd) in.bytes(in.number());
    id = in.byte();
  }
  if (id == kAdditionalStreamsInfo) {
    throw archive_error(error_kind::unsupported, path, "archives with additional streams are not supported");
  }
  if (id == kMainStreamsInfo) {
    auto s = read_streams_info(in);
    db.pack_position = s.pack_position;
    db.pack_sizes = std::move(s.pack_sizes);
    db.folders = std::move(s.folders);
    db.substream_counts = std::move(s.substream_counts);
    db.substream_sizes = std::move(s.substream_sizes);
    db.substream_crcs = std::move(s.substream_crcs);
    id = in.byte();
  }
  if (id == kFilesInfo) {
    db.files = read_files_info(in, path);
    id = in.byte();
  }
  if (id != kEnd) in.fail("expected the end of the header");
  const auto streams =
      static_cast<std::size_t>(std::ranges::count_if(db.files, [](const auto& f) { return f.has_stream; }));
  if (streams != db.substream_sizes.size()) {
    throw archive_error(
        error_kind::corrupt_archive, path,
        fmt::format("{} files have data but the archive holds {} streams", streams, db.substream_sizes.size()));
  }
  return db;
}

encoded_header_info parse_encoded_header(std::span<const std::uint8_t> header, const std::string& path) {
  byte_reader in(header, path);
  expect(in, kEncodedHeader, "kEncodedHeader");
  const auto s = read_streams_info(in);
  if (s.folders.size() != 1 || s.pack_sizes.size() != 1)
    in.fail("an encoded header must have one folder and one pack stream");
  return {s.pack_position, s.pack_sizes[0], s.folders[0]};
}

}  // namespace sevenzfs::archive
