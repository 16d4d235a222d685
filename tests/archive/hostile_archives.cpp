#include "hostile_archives.hpp"

#include "archive/archive_reader.hpp"
#include "archive/archive_writer.hpp"
#include "archive/byte_reader.hpp"
#include "archive/crc32.hpp"
#include "archive/header_serializer.hpp"
#include "test_support.hpp"

#include <fmt/format.h>
#include <lzma.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>

namespace sevenzfs::test {

namespace fs = std::filesystem;
using namespace sevenzfs::archive;
using bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::uint64_t k4GiB = std::uint64_t{1} << 32;

bytes file_bytes(const fs::path& path) {
  const std::string text = read_file(path);
  return {text.begin(), text.end()};
}

bytes slice(const bytes& data, std::uint64_t from, std::uint64_t to) {
  return {data.begin() + static_cast<std::ptrdiff_t>(from), data.begin() + static_cast<std::ptrdiff_t>(to)};
}

bytes concat(std::initializer_list<std::span<const std::uint8_t>> parts) {
  bytes out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

bytes start_header(std::uint64_t offset, std::uint64_t size, std::uint32_t crc) {
  const auto start = make_start_header(offset, size, crc);
  return {start.begin(), start.end()};
}

// Raw LZMA2 (or LZMA) of `data`, and the coder that unpacks it.
std::pair<bytes, coder_info> compress(std::span<const std::uint8_t> data, lzma_vli filter_id) {
  lzma_options_lzma options{};
  if (lzma_lzma_preset(&options, 1)) throw std::runtime_error("lzma_lzma_preset failed");
  const lzma_filter filters[2] = {{filter_id, &options}, {LZMA_VLI_UNKNOWN, nullptr}};
  bytes packed(data.size() + data.size() / 8 + 1024);
  std::size_t written = 0;
  if (lzma_raw_buffer_encode(filters, nullptr, data.data(), data.size(), packed.data(), &written, packed.size()) !=
      LZMA_OK) {
    throw std::runtime_error("lzma_raw_buffer_encode failed");
  }
  packed.resize(written);
  coder_info coder{filter_id == LZMA_FILTER_LZMA2 ? kMethodLzma2 : kMethodLzma, {}};
  std::uint32_t props_size = 0;
  if (lzma_properties_size(&props_size, &filters[0]) != LZMA_OK) throw std::runtime_error("lzma_properties_size");
  coder.properties.resize(props_size);
  if (lzma_properties_encode(&filters[0], coder.properties.data()) != LZMA_OK)
    throw std::runtime_error("lzma_properties_encode failed");
  return {std::move(packed), std::move(coder)};
}

// An archive whose header is `plain`, packed through `coder` after `body`,
// with a kEncodedHeader block claiming `claimed` unpacked bytes.
bytes encoded_archive(const bytes& body, const bytes& plain, const bytes& packed, const coder_info& coder,
                      std::uint64_t claimed) {
  const auto folder = make_folder(coder, claimed, crc32::of(plain));
  const auto block = serialize_encoded_header(body.size(), packed.size(), folder);
  return assemble_archive(concat({body, packed}), block);
}

// An archive this project writes, and where its parts are.
struct base_archive {
  bytes file;
  archive_layout layout;

  bytes packs() const { return slice(file, kStartHeaderSize, layout.packs_end); }
  bytes body() const { return slice(file, kStartHeaderSize, layout.header_offset); }
  bytes header() const { return slice(file, layout.header_offset, layout.header_offset + layout.header_size); }
};

entry text_entry(std::string path, std::string text) {
  entry e;
  e.path = std::move(path);
  e.mode = 0644;
  e.mtime = {1'700'000'000, 0};
  e.size = text.size();
  if (!text.empty()) e.content = std::make_shared<memory_content>(text);
  return e;
}

base_archive written_archive(const fs::path& path, const std::vector<entry>& entries, pack_mode mode, int level) {
  write_options options;
  options.plan.mode = mode;
  options.compression.level = level;
  write_archive(path.string(), entries, options);
  return {file_bytes(path), read_archive(path.string())};
}

std::vector<entry> small_tree() {
  std::vector<entry> entries{text_entry("d", ""), text_entry("d/a.txt", "alpha\nalpha\nalpha\n"),
                             text_entry("b.bin", std::string(100, 'b')), text_entry("empty", ""),
                             text_entry("z.txt", "zeta")};
  entries[0].kind = entry_kind::directory;
  entries[0].mode = 0755;
  return entries;
}

// Enough similar names that a compressed header pays.
std::vector<entry> twelve_files() {
  std::vector<entry> entries;
  for (int i = 0; i < 12; ++i) entries.push_back(text_entry(fmt::format("file-{:02}.txt", i), std::string(50, 'x')));
  return entries;
}

void make_source_tree(const fs::path& root) {
  fs::create_directories(root);
  for (int i = 0; i < 6; ++i)
    write_file(root / fmt::format("f{}.txt", i), std::string(300 + i, static_cast<char>('a' + i)));
}

// Where each section of a plain header begins, for naming truncations.
std::map<std::size_t, std::string> header_sections(const base_archive& base) {
  const auto& db = base.layout.db;
  std::map<std::size_t, std::string> sections{{0, "kHeader"}, {1, "MainStreamsInfo"}};
  std::size_t at = 2;
  const auto section = [&](const std::string& name, const auto& write) {
    sections[at] = name;
    byte_writer out;
    write(out);
    at += out.size();
  };
  section("PackInfo", [&](byte_writer& out) { write_pack_info(out, db.pack_position, db.pack_sizes); });
  section("UnpackInfo", [&](byte_writer& out) { write_unpack_info(out, db.folders); });
  section("SubStreamsInfo", [&](byte_writer& out) { write_substreams_info(out, db); });
  section("end of StreamsInfo", [](byte_writer& out) { out.byte(0); });
  const bytes header = base.header();
  byte_reader in{std::span<const std::uint8_t>(header).subspan(at), "", at};
  sections[at] = "FilesInfo";
  in.byte();
  in.number();
  const std::map<std::uint8_t, std::string> names{{0x0E, "kEmptyStream"}, {0x0F, "kEmptyFile"}, {0x11, "kName"},
                                                  {0x12, "kCTime"},       {0x13, "kATime"},     {0x14, "kMTime"},
                                                  {0x15, "kAttributes"},  {0x19, "kDummy"}};
  for (;;) {
    const std::size_t property = at + in.position();
    const auto id = in.byte();
    if (id == 0) {
      sections[property] = "end of FilesInfo";
      sections[property + 1] = "end of the header";
      break;
    }
    sections[property] = names.contains(id) ? names.at(id) : fmt::format("property {}", id);
    in.bytes(in.number());
  }
  return sections;
}

std::string section_at(const std::map<std::size_t, std::string>& sections, std::size_t offset) {
  return std::prev(sections.upper_bound(offset))->second;
}

class case_list {
 public:
  explicit case_list(fs::path dir) : dir_(std::move(dir)) {}

  void add(const std::string& name, std::span<const std::uint8_t> content) {
    const fs::path path = dir_ / fmt::format("hostile-{:04}.7z", cases_.size());
    write_file(path, std::string(content.begin(), content.end()));
    cases_.push_back({name, path, true});
  }
  void add_existing(const std::string& name, const fs::path& path, bool regular_file) {
    cases_.push_back({name, path, regular_file});
  }
  std::vector<hostile_case> take() { return std::move(cases_); }

 private:
  fs::path dir_;
  std::vector<hostile_case> cases_;
};

bytes flipped(bytes data, std::size_t offset, int bit) {
  data.at(offset) = static_cast<std::uint8_t>(data[offset] ^ (1u << bit));
  return data;
}

void seven_zip(const fs::path& dir, const std::string& arguments) {
  const auto result = run("cd " + quote(dir.string()) + " && 7zz a -bso0 -bsp0 " + arguments);
  if (result.exit_code != 0) throw std::runtime_error("7zz a " + arguments + " failed: " + result.output);
}

// Truncations and bit flips of archives as 7zz and sevenzfs write them.
void add_damaged(case_list& cases, const fs::path& dir, const base_archive& plain, const base_archive& encoded) {
  // 7zz's own archive (LZMA-encoded header), cut at many points.
  make_source_tree(dir / "src");
  seven_zip(dir, "made-by-7zz.7z src");
  const base_archive by7zz{file_bytes(dir / "made-by-7zz.7z"), read_archive((dir / "made-by-7zz.7z").string())};
  const auto& l = by7zz.layout;
  // Into each field of the start header, into and right after the packs,
  // into the packed header, at every byte of the header block.
  std::set<std::uint64_t> cuts{0, 1, 6, 8, 12, 20, 28, 31, 32, 33};
  cuts.insert({(l.packs_start() + l.packs_end) / 2, l.packs_end - 1, l.packs_end, l.file_size - 1});
  cuts.insert({l.header_start + 1, (l.header_start + l.header_offset) / 2});
  for (std::uint64_t k = 0; k < l.header_size; ++k) cuts.insert(l.header_offset + k);
  for (auto cut : cuts) {
    if (cut < l.file_size) cases.add(fmt::format("7zz archive cut to {} bytes", cut), slice(by7zz.file, 0, cut));
  }

  // sevenzfs's plain header cut at every byte (every section boundary among
  // them), the start header pointing at the cut header with its CRC: the
  // parser itself must find the damage.
  const auto sections = header_sections(plain);
  const bytes header = plain.header();
  for (std::size_t k = 0; k < header.size(); ++k) {
    cases.add(fmt::format("plain header cut to {} bytes (in {}), CRC matching", k, section_at(sections, k)),
              assemble_archive(plain.body(), slice(header, 0, k)));
  }
  const bytes block = encoded.header();
  for (std::size_t k = 0; k < block.size(); ++k) {
    cases.add(fmt::format("encoded header block cut to {} bytes, CRC matching", k),
              assemble_archive(encoded.body(), slice(block, 0, k)));
  }

  // Bit flips under the CRCs (the minor version, byte 7, is not checked).
  for (std::size_t i = 0; i < kStartHeaderSize; ++i) {
    if (i != 7) cases.add(fmt::format("start header byte {} flipped", i), flipped(plain.file, i, int(i % 8)));
  }
  for (std::size_t i = 0; i < plain.layout.header_size; i += 3) {
    cases.add(fmt::format("plain header byte {} (in {}) flipped", i, section_at(sections, i)),
              flipped(plain.file, plain.layout.header_offset + i, int(i % 8)));
  }
  for (std::size_t i = 0; i < encoded.layout.header_size; ++i) {
    cases.add(fmt::format("encoded header block byte {} flipped", i),
              flipped(encoded.file, encoded.layout.header_offset + i, int(i % 8)));
  }
  // The LZMA2 chunk header of the packed header: control byte, sizes, props.
  for (std::size_t i = 0; i < 6; ++i) {
    cases.add(fmt::format("packed header byte {} flipped", i),
              flipped(encoded.file, encoded.layout.header_start + i, int(i % 8)));
  }
}

// Headers that claim what their bytes cannot back.
void add_forged(case_list& cases, const base_archive& plain, const base_archive& solid) {
  const bytes packs = plain.packs();
  const bytes header = plain.header();
  const auto with_db = [&](const base_archive& base, const auto& change) {
    archive_database db = base.layout.db;
    change(db);
    return assemble_archive(base.packs(), serialize_header(db));
  };

  const auto [lzma2_packed, lzma2_coder] = compress(header, LZMA_FILTER_LZMA2);
  cases.add("encoded header (LZMA2) claiming 4 GiB", encoded_archive(packs, header, lzma2_packed, lzma2_coder, k4GiB));
  auto [lzma_packed, lzma_coder] = compress(header, LZMA_FILTER_LZMA1);
  for (std::size_t i = 1; i < 5; ++i) lzma_coder.properties.at(i) = 0xFF;  // a 4 GiB dictionary
  cases.add("encoded header (LZMA, 4 GiB dictionary) claiming 4 GiB",
            encoded_archive(packs, header, lzma_packed, lzma_coder, k4GiB));
  cases.add("stored encoded header claiming 4 GiB", encoded_archive(packs, header, header, {kMethodCopy, {}}, k4GiB));
  cases.add("encoded header claiming one byte more than it holds",
            encoded_archive(packs, header, lzma2_packed, lzma2_coder, header.size() + 1));

  cases.add("start header claiming a 4 GiB header",
            concat({start_header(packs.size(), k4GiB, crc32::of(header)), packs, header}));
  cases.add("header offset + size wrapping past 2^64",
            concat({start_header(~std::uint64_t{0} - 15, 48, crc32::of(header)), packs, header}));

  byte_writer forty_million;
  forty_million.byte(property_id::kHeader);
  forty_million.byte(property_id::kFilesInfo);
  forty_million.number(40'000'000);
  forty_million.byte(0);
  forty_million.byte(0);
  cases.add("header claiming 40 million files", assemble_archive({}, forty_million.data()));
  // 40 million directories whose empty-stream bits really unpack (5 MB
  // from a few kilobytes), but with no bytes left for their names.
  byte_writer directories;
  directories.byte(property_id::kHeader);
  directories.byte(property_id::kFilesInfo);
  directories.number(40'000'000);
  directories.byte(property_id::kEmptyStream);
  directories.number(5'000'000);
  directories.bytes(bytes(5'000'000, 0xFF));
  directories.byte(0);
  directories.byte(0);
  const auto [dirs_packed, dirs_coder] = compress(directories.data(), LZMA_FILTER_LZMA2);
  cases.add("encoded header of 40 million directories in 5 MB",
            encoded_archive({}, directories.data(), dirs_packed, dirs_coder, directories.size()));

  cases.add("pack position wrapping past 2^64", with_db(plain, [](archive_database& db) {
              db.pack_position = ~std::uint64_t{0} - kStartHeaderSize + 1;  // 32 + position wraps to 0
            }));
  cases.add("pack sizes summing past 2^64", with_db(plain, [](archive_database& db) {
              db.pack_sizes.at(0) = (std::uint64_t{1} << 63) - 1;
              db.pack_sizes.at(1) = (std::uint64_t{1} << 63) - 1;
            }));
  cases.add("a pack size of 2^63", with_db(plain, [](archive_database& db) { db.pack_sizes.at(0) = 1ull << 63; }));
  cases.add("packs running into the header", with_db(plain, [](archive_database& db) { db.pack_sizes.back() += 20; }));
  cases.add("a folder unpack size of 2^63",
            with_db(plain, [](archive_database& db) { db.folders.at(0).unpack_sizes.at(0) = 1ull << 63; }));
  cases.add("substream sizes summing past 2^64", with_db(solid, [](archive_database& db) {
              db.substream_sizes.at(0) = ~std::uint64_t{0};
              db.substream_sizes.at(1) = 2;
            }));
  cases.add("substreams larger than their folder",
            with_db(solid, [](archive_database& db) { db.substream_sizes.at(0) += db.folders.at(0).unpack_size(); }));
  cases.add("more files with data than streams",
            with_db(plain, [](archive_database& db) { db.files.front().has_stream = true; }));
  cases.add("a cyclic coder graph", with_db(plain, [](archive_database& db) {
              // M reads A's first output; A reads B; B reads A's second output.
              folder_graph graph;
              graph.coders = {{{0x04}, {}, 2, 2}, {kMethodCopy, {}, 1, 1}, {kMethodCopy, {}, 1, 1}};
              graph.bind_pairs = {{3, 0}, {2, 1}, {0, 2}};
              graph.packed_streams = {1};
              db.folders.at(0) = folder_info(graph, {1, 1, 1, 1});
            }));

  // Encoded headers nested five deep, each level stored.
  bytes body = packs;
  bytes level = header;
  for (int depth = 0; depth < 5; ++depth) {
    const auto block = serialize_encoded_header(body.size(), level.size(),
                                                make_folder({kMethodCopy, {}}, level.size(), crc32::of(level)));
    body = concat({body, level});
    level = block;
  }
  cases.add("encoded headers nested five deep", assemble_archive(body, level));

  bytes unfinished = plain.file;
  std::fill(unfinished.begin() + 8, unfinished.begin() + kStartHeaderSize, 0);
  cases.add("unfinished archive (start header never written)", unfinished);
  bytes version = plain.file;
  version[6] = 1;
  cases.add("7z format version 1.4", version);
  const std::string text = "just some text, long enough to be mistaken for anything";
  cases.add("not an archive", bytes(text.begin(), text.end()));
}

}  // namespace

std::vector<std::uint8_t> assemble_archive(std::span<const std::uint8_t> body, std::span<const std::uint8_t> header) {
  return concat({start_header(body.size(), header.size(), crc32::of(header)), body, header});
}

std::vector<archive_sample> make_sample_archives(const fs::path& dir) {
  fs::create_directories(dir);
  std::vector<archive_sample> samples;
  const auto add = [&](const std::string& name, const base_archive& base) {
    samples.push_back({name, base.body(), base.header()});
  };
  add("sevenzfs, plain header", written_archive(dir / "plain.7z", small_tree(), pack_mode::batched, 0));
  add("sevenzfs, LZMA2 header", written_archive(dir / "encoded.7z", twelve_files(), pack_mode::solid, 5));
  make_source_tree(dir / "src");
  seven_zip(dir, "-mhc=off -ms=off by7zz-plain.7z src");
  add("7zz, plain header", {file_bytes(dir / "by7zz-plain.7z"), read_archive((dir / "by7zz-plain.7z").string())});
  seven_zip(dir, "by7zz-lzma.7z src");
  add("7zz, LZMA header", {file_bytes(dir / "by7zz-lzma.7z"), read_archive((dir / "by7zz-lzma.7z").string())});
  return samples;
}

std::vector<hostile_case> make_hostile_archives(const fs::path& dir) {
  const fs::path work = dir / "bases";
  fs::create_directories(work);
  const auto plain = written_archive(work / "plain.7z", small_tree(), pack_mode::batched, 0);
  const auto solid = written_archive(work / "solid.7z", small_tree(), pack_mode::solid, 0);
  const auto encoded = written_archive(work / "encoded.7z", twelve_files(), pack_mode::solid, 5);
  if (plain.layout.db.folders.size() < 3 || solid.layout.db.substream_counts.at(0) < 3 ||
      encoded.layout.header_start == encoded.layout.header_offset) {
    throw std::runtime_error("make_hostile_archives: the base archives are not shaped as expected");
  }

  case_list cases(dir);
  add_damaged(cases, work, plain, encoded);
  add_forged(cases, plain, solid);

  write_file(work / "secret.txt", "secret content\n");
  seven_zip(work, "-pHostile -mhe=on encrypted.7z secret.txt");
  cases.add_existing("encrypted header (7zz -mhe=on)", work / "encrypted.7z", true);
  std::string noise;
  for (std::uint32_t x = 1; noise.size() < 20000;) {
    x = x * 1103515245u + 12345u;
    noise.push_back(static_cast<char>(x >> 24));
  }
  write_file(work / "noise.bin", noise);
  seven_zip(work, "-v4k volumes.7z noise.bin");
  cases.add_existing("first volume of a multi-volume archive (7zz -v4k)", work / "volumes.7z.001", true);

  const fs::path fifo = dir / "fifo.7z";
  if (::mkfifo(fifo.c_str(), 0600) != 0) throw std::runtime_error("mkfifo failed");
  cases.add_existing("a FIFO", fifo, false);
  fs::create_directories(dir / "directory.7z");
  cases.add_existing("a directory", dir / "directory.7z", false);
  return cases.take();
}

}  // namespace sevenzfs::test
