#include "header_serializer.hpp"

#include "archive_error.hpp"
#include "crc32.hpp"
#include "utf16.hpp"

#include <algorithm>
#include <optional>

namespace sevenzfs::archive {

namespace {

using namespace property_id;

// Optional values of one kind (times, attributes, CRCs) preceded by
// AllAreDefined or the bit vector of defined ones.
template <typename T>
void write_defined_vector(byte_writer& out, const std::vector<std::optional<T>>& values) {
  const bool all_defined = std::ranges::all_of(values, [](const auto& v) { return v.has_value(); });
  if (all_defined) {
    out.byte(1);
  } else {
    out.byte(0);
    std::vector<bool> defined;
    defined.reserve(values.size());
    for (const auto& v : values) defined.push_back(v.has_value());
    out.bit_vector(defined);
  }
}

// kCrc and the defined CRCs, unless none is defined.
void write_digests(byte_writer& out, const std::vector<std::optional<std::uint32_t>>& crcs) {
  if (std::ranges::none_of(crcs, [](const auto& c) { return c.has_value(); })) return;
  out.byte(kCrc);
  write_defined_vector(out, crcs);
  for (const auto& c : crcs) {
    if (c) out.u32_le(*c);
  }
}

// A FilesInfo property: id, size of the payload, payload.
void write_property(byte_writer& out, std::uint8_t id, const byte_writer& payload) {
  out.byte(id);
  out.number(payload.size());
  out.bytes(payload.data());
}

template <typename T, typename Get, typename Put>
void write_optional_file_values(byte_writer& out, std::uint8_t id, const std::vector<file_info>& files, Get get,
                                Put put) {
  std::vector<std::optional<T>> values;
  values.reserve(files.size());
  for (const auto& f : files) values.push_back(get(f));
  if (std::ranges::none_of(values, [](const auto& v) { return v.has_value(); })) return;
  byte_writer payload;
  write_defined_vector(payload, values);
  payload.byte(0);  // External = 0: the values follow inline
  for (const auto& v : values) {
    if (v) put(payload, *v);
  }
  write_property(out, id, payload);
}

}  // namespace

void write_pack_info(byte_writer& out, std::uint64_t pack_position, const std::vector<std::uint64_t>& pack_sizes,
                     std::optional<std::uint64_t> last_pack_size) {
  out.byte(kPackInfo);
  out.number(pack_position);
  out.number(pack_sizes.size());
  out.byte(kSize);
  for (std::size_t k = 0; k < pack_sizes.size(); ++k) {
    out.number(last_pack_size && k + 1 == pack_sizes.size() ? *last_pack_size : pack_sizes[k]);
  }
  out.byte(kEnd);
}

namespace {

bool is_lzma2_with_dictionary(const coder_info& coder) {
  return coder.method_id == kMethodLzma2 && coder.properties.size() == 1;
}

// The LZMA2 property byte names the dictionary a decoder must provide; one
// larger than the encoder used decodes the same. Folders of small files each
// get a dictionary of their own size, which in a header of many folders makes
// the records differ and compress worse (batched: 0.01 % of the archive);
// declaring the largest for all of them makes the records alike, as 7-Zip's.
std::optional<std::uint8_t> largest_lzma2_property(const std::vector<folder_info>& folders) {
  std::optional<std::uint8_t> largest;
  for (const auto& folder : folders) {
    for (const auto& coder : folder.coders()) {
      if (is_lzma2_with_dictionary(coder)) largest = std::max(largest.value_or(0), coder.properties[0]);
    }
  }
  return largest;
}

void write_folder_declaring(byte_writer& out, const folder_info& folder, std::optional<std::uint8_t> lzma2_property) {
  out.number(folder.coders().size());
  for (const auto& coder : folder.coders()) {
    const bool complex = coder.in_streams != 1 || coder.out_streams != 1;
    const auto flags = static_cast<std::uint8_t>(coder.method_id.size() | (complex ? 0x10 : 0) |
                                                 (coder.properties.empty() ? 0 : 0x20));
    out.byte(flags);
    out.bytes(coder.method_id);
    if (complex) {
      out.number(coder.in_streams);
      out.number(coder.out_streams);
    }
    if (lzma2_property && is_lzma2_with_dictionary(coder)) {
      out.number(1);
      out.byte(*lzma2_property);
    } else if (!coder.properties.empty()) {
      out.number(coder.properties.size());
      out.bytes(coder.properties);
    }
  }
  for (const auto& pair : folder.bind_pairs()) {
    out.number(pair.in_index);
    out.number(pair.out_index);
  }
  if (folder.packed_streams().size() > 1) {
    for (auto index : folder.packed_streams()) out.number(index);
  }
}

}  // namespace

void write_folder(byte_writer& out, const folder_info& folder) { write_folder_declaring(out, folder, std::nullopt); }

void write_unpack_info(byte_writer& out, const std::vector<folder_info>& folders) {
  out.byte(kUnpackInfo);
  out.byte(kFolder);
  out.number(folders.size());
  out.byte(0);  // External = 0
  const auto lzma2_property = largest_lzma2_property(folders);
  for (const auto& folder : folders) write_folder_declaring(out, folder, lzma2_property);
  out.byte(kCodersUnpackSize);
  for (const auto& folder : folders) {
    for (auto size : folder.unpack_sizes) out.number(size);
  }
  std::vector<std::optional<std::uint32_t>> crcs;
  crcs.reserve(folders.size());
  for (const auto& folder : folders) crcs.push_back(folder.unpack_crc);
  write_digests(out, crcs);
  out.byte(kEnd);
}

void write_substreams_info(byte_writer& out, const archive_database& db) {
  out.byte(kSubStreamsInfo);
  if (std::ranges::any_of(db.substream_counts, [](auto n) { return n != 1; })) {
    out.byte(kNumUnpackStream);
    for (auto n : db.substream_counts) out.number(n);
  }
  // Sizes of every substream but the last of each folder (that one is implied).
  byte_writer sizes;
  std::size_t index = 0;
  for (auto n : db.substream_counts) {
    for (std::uint64_t k = 0; k < n; ++k, ++index) {
      if (k + 1 < n) sizes.number(db.substream_sizes[index]);
    }
  }
  if (sizes.size() > 0) {
    out.byte(kSize);
    out.bytes(sizes.data());
  }
  // CRCs of every substream except a folder's single one whose folder CRC is known.
  std::vector<std::optional<std::uint32_t>> crcs;
  index = 0;
  for (std::size_t folder = 0; folder < db.substream_counts.size(); ++folder) {
    const auto n = db.substream_counts[folder];
    const bool covered_by_folder = n == 1 && db.folders[folder].unpack_crc.has_value();
    for (std::uint64_t k = 0; k < n; ++k, ++index) {
      if (!covered_by_folder) crcs.push_back(db.substream_crcs[index]);
    }
  }
  write_digests(out, crcs);
  out.byte(kEnd);
}

void write_streams_info(byte_writer& out, const archive_database& db, std::optional<std::uint64_t> last_pack_size) {
  write_pack_info(out, db.pack_position, db.pack_sizes, last_pack_size);
  write_unpack_info(out, db.folders);
  write_substreams_info(out, db);
  out.byte(kEnd);
}

void write_files_info(byte_writer& out, const std::vector<file_info>& files) {
  out.byte(kFilesInfo);
  out.number(files.size());

  std::vector<bool> empty_stream;
  std::vector<bool> empty_file;  // over the empty-stream entries only
  empty_stream.reserve(files.size());
  for (const auto& f : files) {
    empty_stream.push_back(!f.has_stream);
    if (!f.has_stream) empty_file.push_back(!f.is_directory);
  }
  if (!empty_file.empty()) {
    byte_writer payload;
    payload.bit_vector(empty_stream);
    write_property(out, kEmptyStream, payload);
    if (std::ranges::any_of(empty_file, [](bool b) { return b; })) {
      byte_writer empty_file_payload;
      empty_file_payload.bit_vector(empty_file);
      write_property(out, kEmptyFile, empty_file_payload);
    }
  }

  // The names are most of a header of many files: they go straight into
  // `out`, their size counted first, not into a payload copied after it.
  std::uint64_t names_size = 1;  // External = 0
  for (const auto& f : files) {
    const auto utf16 = utf8_to_utf16le(f.name);
    if (!utf16) throw archive_error(error_kind::invalid_name, f.name, "name is not valid UTF-8");
    names_size += utf16->size() + 2;
  }
  out.byte(kName);
  out.number(names_size);
  out.byte(0);
  for (const auto& f : files) {
    out.bytes(*utf8_to_utf16le(f.name));
    out.byte(0);
    out.byte(0);
  }

  // Times in 7-Zip's order (7zOut.cpp): creation, access, modification.
  const auto put_time = [](byte_writer& w, std::uint64_t v) { w.u64_le(v); };
  write_optional_file_values<std::uint64_t>(
      out, kCTime, files, [](const file_info& f) { return f.ctime; }, put_time);
  write_optional_file_values<std::uint64_t>(
      out, kATime, files, [](const file_info& f) { return f.atime; }, put_time);
  write_optional_file_values<std::uint64_t>(
      out, kMTime, files, [](const file_info& f) { return f.mtime; }, put_time);
  write_optional_file_values<std::uint32_t>(
      out, kWinAttributes, files, [](const file_info& f) { return f.attributes; },
      [](byte_writer& w, std::uint32_t v) { w.u32_le(v); });

  out.byte(kEnd);
}

std::uint64_t header_size_bound(const archive_database& db) {
  constexpr std::uint64_t kNumber = 9;      // a 7z UINT64 at its longest
  constexpr std::uint64_t kSections = 256;  // ids, Ends, property sizes, AllAreDefined bytes
  std::uint64_t bound =
      kSections + kNumber * (db.pack_sizes.size() + db.substream_counts.size() + db.substream_sizes.size());
  bound += 4 * db.substream_crcs.size() + db.substream_crcs.size() / 8;
  for (const auto& folder : db.folders) {
    bound += kNumber + 4 + 1;  // coder count, CRC and its defined bit (rounded up)
    for (const auto& coder : folder.coders()) {
      bound += 1 + coder.method_id.size() + 2 * kNumber + kNumber + coder.properties.size();
    }
    bound += kNumber * (2 * folder.bind_pairs().size() + folder.packed_streams().size() + folder.unpack_sizes.size());
  }
  for (const auto& file : db.files) {
    // UTF-16 takes at most two bytes per UTF-8 byte; three times, the
    // attributes and a byte of defined and empty bits.
    bound += 2 * file.name.size() + 2 + 3 * 8 + 4 + 1;
  }
  return bound;
}

std::vector<std::uint8_t> serialize_header(const archive_database& db, std::optional<std::uint64_t> last_pack_size) {
  byte_writer out;
  out.reserve(static_cast<std::size_t>(header_size_bound(db)));
  out.byte(kHeader);
  if (!db.folders.empty()) {
    out.byte(kMainStreamsInfo);
    write_streams_info(out, db, last_pack_size);
  }
  if (!db.files.empty()) write_files_info(out, db.files);
  out.byte(kEnd);
  return out.take();
}

std::vector<std::uint8_t> serialize_encoded_header(std::uint64_t pack_position, std::uint64_t pack_size,
                                                   const folder_info& folder) {
  byte_writer out;
  out.byte(kEncodedHeader);
  write_pack_info(out, pack_position, {pack_size});
  write_unpack_info(out, {folder});
  out.byte(kEnd);
  return out.take();
}

std::array<std::uint8_t, kStartHeaderSize> make_start_header(std::uint64_t next_header_offset,
                                                             std::uint64_t next_header_size,
                                                             std::uint32_t next_header_crc) {
  byte_writer tail;
  tail.u64_le(next_header_offset);
  tail.u64_le(next_header_size);
  tail.u32_le(next_header_crc);
  std::array<std::uint8_t, kStartHeaderSize> header{};
  std::ranges::copy(kSignature, header.begin());
  header[7] = 0x04;  // format version 0.4
  const std::uint32_t start_crc = crc32::of(tail.data());
  for (int i = 0; i < 4; ++i) header[8 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(start_crc >> (8 * i));
  std::ranges::copy(tail.data(), header.begin() + 12);
  return header;
}

}  // namespace sevenzfs::archive
