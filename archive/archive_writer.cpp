#include "archive_writer.hpp"

#include "archive_error.hpp"
#include "crc32.hpp"
#include "header_compressor.hpp"
#include "header_serializer.hpp"
#include "lzma_settings.hpp"
#include "utf16.hpp"

#include <algorithm>
#include <numeric>

namespace sevenzfs::archive {

namespace {

// 7-Zip leaves the header of a single-entry archive plain; so do we.
constexpr std::size_t kMinFilesForEncodedHeader = 2;

}  // namespace

std::uint64_t default_solid_block_bytes(int level) {
  if (level <= 0) return std::uint64_t{1} << 24;
  return std::clamp<std::uint64_t>(std::uint64_t{level_dictionary_size(level)} << 7, std::uint64_t{1} << 24,
                                   std::uint64_t{1} << 32);
}

void check_archive_path(const std::string& path) {
  if (path.empty()) throw archive_error(error_kind::invalid_name, path, "empty archive path");
  if (!utf8_to_utf16le(path)) throw archive_error(error_kind::invalid_name, path, "name is not valid UTF-8");
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto slash = std::min(path.find('/', start), path.size());
    const std::string_view component(path.data() + start, slash - start);
    if (component.empty() || component == "." || component == "..") {
      throw archive_error(error_kind::invalid_name, path, "archive path has an empty, '.' or '..' component");
    }
    start = slash + 1;
  }
}

prepared_header::prepared_header(const archive_database& db, int level, unsigned threads,
                                 std::optional<std::uint64_t> last_pack_size, header_effort effort)
    : empty_(db.empty()) {
  if (empty_) return;
  plain_ = serialize_header(db, last_pack_size);
  plain_size_ = plain_.size();
  plain_crc_ = crc32::of(plain_);
  if (level > 0 && db.files.size() >= kMinFilesForEncodedHeader) {
    auto compressed = compress_header(plain_, threads, effort);
    const std::uint64_t packed_size = compressed.size();
    const auto folder = make_folder({kMethodLzma2, {compressed.property}}, plain_size_, plain_crc_);
    const auto block = serialize_encoded_header(UINT64_MAX, packed_size, folder);
    if (packed_size + block.size() < plain_size_) {
      packed_ = std::move(compressed.parts);
      packed_size_ = packed_size;
      property_ = compressed.property;
      // A million files' header is 140 MB: only its size and CRC are needed
      // now. Swapped, as `= {}` would keep the capacity.
      std::vector<std::uint8_t>().swap(plain_);
    }
  }
}

std::uint64_t prepared_header::size_bound() const noexcept {
  if (empty_) return 0;
  if (packed_.empty()) return plain_size_;
  // The largest position takes the longest number: the bound for any other.
  const auto folder = make_folder({kMethodLzma2, {property_}}, plain_size_, plain_crc_);
  return packed_size_ + serialize_encoded_header(UINT64_MAX, packed_size_, folder).size();
}

header_location prepared_header::write(output_file& out, std::uint64_t at) const {
  if (empty_) {
    out.write_at(0, make_start_header(0, 0, 0));
    return {};
  }
  header_location where{at, at, 0, std::nullopt};
  std::vector<std::uint8_t> block;
  if (packed_.empty()) {
    block = plain_;
  } else {
    std::uint64_t offset = at;
    for (const auto& part : packed_) {
      out.write_at(offset, part);
      offset += part.size();
    }
    where.folder = make_folder({kMethodLzma2, {property_}}, plain_size_, plain_crc_);
    block = serialize_encoded_header(at - kStartHeaderSize, packed_size_, *where.folder);
    where.offset = offset;
  }
  out.write_at(where.offset, block);
  where.size = block.size();
  // The header is durable before the start header points at it.
  out.sync();
  out.write_at(0, make_start_header(where.offset - kStartHeaderSize, block.size(), crc32::of(block)));
  return where;
}

header_location write_header(output_file& out, const archive_database& db, int level, unsigned threads,
                             header_effort effort) {
  const header_location where = prepared_header(db, level, threads, std::nullopt, effort).write(out, out.position());
  out.set_position(std::max(out.position(), where.end()));
  return where;
}

created_archive create_archive(const std::string& path, std::span<const entry> without_data,
                               std::span<const entry> with_data, const write_options& options, bool keep_open) {
  const auto plan = plan_folders(with_data, options.plan);
  output_file out(path);
  unique_fd reader = keep_open ? out.reader() : unique_fd{};
  out.append(std::vector<std::uint8_t>(kStartHeaderSize, 0));
  archive_database db;
  for (const auto& e : without_data) db.files.push_back(describe_entry(e));
  folder_packer packer(out, db, options.compression);
  packer.pack(with_data, plan);
  const auto header = write_header(out, db, options.compression.level, options.compression.threads);
  out.commit();

  created_archive created;
  created.layout.file = std::move(reader);
  created.layout.packs_end =
      kStartHeaderSize + std::accumulate(db.pack_sizes.begin(), db.pack_sizes.end(), std::uint64_t{0});
  created.layout.set_header(header);
  created.layout.file_size = out.position();
  created.layout.db = std::move(db);
  created.stream_index = stream_indices(plan, with_data.size(), 0);
  return created;
}

write_summary write_archive(const std::string& path, std::span<const entry> entries, const write_options& options) {
  std::vector<entry> without_data;
  std::vector<entry> with_data;
  for (const auto& e : entries) {
    check_archive_path(e.path);
    (e.kind == entry_kind::directory || e.size == 0 ? without_data : with_data).push_back(e);
  }
  const auto created = create_archive(path, without_data, with_data, options);
  const auto& db = created.layout.db;
  write_summary summary;
  summary.entries = entries.size();
  summary.folders = db.folders.size();
  summary.input_bytes = std::accumulate(db.substream_sizes.begin(), db.substream_sizes.end(), std::uint64_t{0});
  summary.packed_bytes = std::accumulate(db.pack_sizes.begin(), db.pack_sizes.end(), std::uint64_t{0});
  summary.archive_bytes = created.layout.file_size;
  return summary;
}

}  // namespace sevenzfs::archive
