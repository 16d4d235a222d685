#include "header_parser.hpp"

#include "archive_error.hpp"
#include "byte_reader.hpp"
#include "header_serializer.hpp"
#include "utf16.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace sevenzfs::archive {

namespace {

using namespace property_id;
constexpr std::uint8_t kArchiveProperties = 0x02;
constexpr std::uint8_t kAdditionalStreamsInfo = 0x03;
constexpr std::uint8_t kAnti = 0x10;

struct streams_info {
  std::uint64_t pack_position = 0;
  std::vector<std::uint64_t> pack_sizes;
  std::vector<folder_info> folders;
  std::vector<std::uint64_t> substream_counts;
  std::vector<std::uint64_t> substream_sizes;
  std::vector<std::optional<std::uint32_t>> substream_crcs;
};

// A count that a damaged header cannot turn into a huge allocation: every
// counted item takes at least one bit of the header.
std::size_t read_count(byte_reader& in, std::size_t header_size) {
  const std::uint64_t n = in.number();
  if (n > std::uint64_t{header_size} * 8 + 8) in.fail(fmt::format("count {} is impossible", n));
  return static_cast<std::size_t>(n);
}

void expect(byte_reader& in, std::uint8_t id, const char* what) {
  if (in.byte() != id) in.fail(fmt::format("expected {}", what));
}

std::vector<std::optional<std::uint32_t>> read_digests(byte_reader& in, std::size_t count) {
  const auto defined = in.defined_vector(count);
  std::vector<std::optional<std::uint32_t>> crcs(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (defined[i]) crcs[i] = in.u32_le();
  }
  return crcs;
}

void read_pack_info(byte_reader& in, streams_info& s, std::size_t size) {
  s.pack_position = in.number();
  const auto count = read_count(in, size);
  for (;;) {
    const auto id = in.byte();
    if (id == kEnd) break;
    if (id == kSize) {
      s.pack_sizes.resize(count);
      for (auto& pack_size : s.pack_sizes) pack_size = in.number();
    } else if (id == kCrc) {
      read_digests(in, count);  // pack stream CRCs: not needed to append
    } else {
      in.fail(fmt::format("unknown PackInfo property {}", id));
    }
  }
  if (s.pack_sizes.size() != count) in.fail("PackInfo without sizes");
}

folder_info read_folder(byte_reader& in, std::size_t header_size) {
  folder_info folder;
  const auto coders = read_count(in, header_size);
  if (coders == 0 || coders > 64) in.fail("bad coder count");
  for (std::size_t c = 0; c < coders; ++c) {
    const auto flag = in.byte();
    if (flag & 0x80) in.fail("alternative coder methods are not supported");
    coder_info coder;
    const auto id = in.bytes(flag & 0x0F);
    coder.method_id.assign(id.begin(), id.end());
    if (flag & 0x10) {
      const auto inputs = read_count(in, header_size);
      const auto outputs = read_count(in, header_size);
      if (inputs == 0 || inputs > 64 || outputs == 0 || outputs > 64) in.fail("bad coder stream counts");
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
  if (outputs > 64 || inputs > 64 || inputs < outputs - 1) in.fail("bad coder streams");
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
    for (std::size_t p = 0; p < packed; ++p) {
      const auto index = in.number();
      if (index >= inputs || bound_inputs.contains(index)) in.fail("bad packed stream index");
      folder.packed_streams.push_back(index);
    }
  }
  return folder;
}

void read_unpack_info(byte_reader& in, std::span<const std::uint8_t> header, streams_info& s) {
  expect(in, kFolder, "kFolder");
  const auto count = read_count(in, header.size());
  if (in.byte() != 0) in.fail("external folders are not supported");
  for (std::size_t f = 0; f < count; ++f) s.folders.push_back(read_folder(in, header.size()));
  expect(in, kCodersUnpackSize, "kCodersUnpackSize");
  for (auto& folder : s.folders) {
    folder.unpack_sizes.resize(folder.total_out_streams());
    for (auto& size : folder.unpack_sizes) size = in.number();
  }
  for (;;) {
    const auto id = in.byte();
    if (id == kEnd) break;
    if (id != kCrc) in.fail(fmt::format("unknown UnpackInfo property {}", id));
    const auto crcs = read_digests(in, count);
    for (std::size_t f = 0; f < count; ++f) s.folders[f].unpack_crc = crcs[f];
  }
}

void read_substreams_info(byte_reader& in, streams_info& s, std::size_t size) {
  s.substream_counts.assign(s.folders.size(), 1);
  auto id = in.byte();
  if (id == kNumUnpackStream) {
    for (auto& n : s.substream_counts) n = read_count(in, size);
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
      sum += substream;
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

streams_info read_streams_info(byte_reader& in, std::span<const std::uint8_t> header, const std::string& path) {
  streams_info s;
  auto id = in.byte();
  if (id == kPackInfo) {
    read_pack_info(in, s, header.size());
    id = in.byte();
  }
  if (id == kUnpackInfo) {
    read_unpack_info(in, header, s);
    id = in.byte();
  }
  if (id == kSubStreamsInfo) {
    read_substreams_info(in, s, header.size());
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
  for (const auto& folder : s.folders) pack_streams += folder.packed_streams.size();
  if (pack_streams != s.pack_sizes.size()) {
    throw archive_error(
        error_kind::corrupt_archive, path,
        fmt::format("the folders use {} pack streams but the archive lists {}", pack_streams, s.pack_sizes.size()));
  }
  return s;
}

std::vector<file_info> read_files_info(byte_reader& in, std::size_t header_size, const std::string& path) {
  const auto count = read_count(in, header_size);
  std::vector<file_info> files(count);
  std::vector<bool> empty_stream(count, false);
  std::vector<bool> empty_file;
  bool named = false;
  for (;;) {
    const auto type = in.byte();
    if (type == kEnd) break;
    const auto payload = in.bytes(in.number());
    byte_reader property(payload, path);
    const std::size_t empties = static_cast<std::size_t>(std::ranges::count(empty_stream, true));
    switch (type) {
      case kEmptyStream: empty_stream = property.bit_vector(count); break;
      case kEmptyFile: empty_file = property.bit_vector(empties); break;
      case kAnti:
        if (std::ranges::any_of(property.bit_vector(empties), [](bool b) { return b; })) {
          throw archive_error(error_kind::unsupported, path, "archives with anti-items are not supported");
        }
        break;
      case kName: {
        if (property.byte() != 0) property.fail("external names are not supported");
        for (auto& f : files) {
          std::size_t start = property.position();
          while (true) {
            const auto pair = property.bytes(2);
            if (pair[0] == 0 && pair[1] == 0) break;
          }
          const auto units = payload.subspan(start, property.position() - 2 - start);
          auto name = utf16le_to_utf8(units);
          if (!name) property.fail("a name is not valid UTF-16");
          f.name = std::move(*name);
        }
        named = true;
        break;
      }
      case kMTime: {
        const auto defined = property.defined_vector(count);
        if (property.byte() != 0) property.fail("external times are not supported");
        for (std::size_t i = 0; i < count; ++i) {
          if (defined[i]) files[i].mtime = property.u64_le();
        }
        break;
      }
      case kWinAttributes: {
        const auto defined = property.defined_vector(count);
        if (property.byte() != 0) property.fail("external attributes are not supported");
        for (std::size_t i = 0; i < count; ++i) {
          if (defined[i]) files[i].attributes = property.u32_le();
        }
        break;
      }
      default: break;  // CTime, ATime, StartPos, Dummy, ...: not kept
    }
  }
  if (!named && count > 0) in.fail("files without names");
  std::size_t empty_index = 0;
  for (std::size_t i = 0; i < count; ++i) {
    files[i].has_stream = !empty_stream[i];
    if (empty_stream[i]) {
      const bool is_file = empty_index < empty_file.size() && empty_file[empty_index];
      files[i].is_directory = !is_file;
      ++empty_index;
    }
  }
  return files;
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
    auto s = read_streams_info(in, header, path);
    db.pack_position = s.pack_position;
    db.pack_sizes = std::move(s.pack_sizes);
    db.folders = std::move(s.folders);
    db.substream_counts = std::move(s.substream_counts);
    db.substream_sizes = std::move(s.substream_sizes);
    db.substream_crcs = std::move(s.substream_crcs);
    id = in.byte();
  }
  if (id == kFilesInfo) {
    db.files = read_files_info(in, header.size(), path);
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
  const auto s = read_streams_info(in, header, path);
  if (s.folders.size() != 1 || s.pack_sizes.size() != 1)
    in.fail("an encoded header must have one folder and one pack stream");
  return {s.pack_position, s.pack_sizes[0], s.folders[0]};
}

}  // namespace sevenzfs::archive
