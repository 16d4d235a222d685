#pragma once
// What a 7z header describes (DOC/7zFormat.txt), as plain arrays; "not
// defined" is std::optional, never a sentinel value. The same database serves a new archive and, later,
// an existing one that new folders are appended to.
#include <boost/container/small_vector.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sevenzfs::archive {

// A vector whose first N elements live inside it. A folder this writer makes
// has one coder, one pack stream and one size, and an archive of a million
// one-file folders holds a million of them (twice during a commit): inline,
// they cost no heap block each.
template <class T, std::size_t N>
using small_vector = boost::container::small_vector<T, N>;

// A method id (at most 15 bytes) or a coder's properties (LZMA2: 1 byte,
// LZMA: 5, BCJ2: none).
struct coder_bytes : small_vector<std::uint8_t, 7> {
  using small_vector::small_vector;
  // Boost 1.74's small_vector does not convert to a span by itself.
  operator std::span<const std::uint8_t>() const noexcept { return {data(), size()}; }
};

// One coder of a folder (7zFormat.txt "Folder"). Streams are named from the
// decoder's side: `in_streams` take packed data, `out_streams` give unpacked
// data. Simple coders (LZMA2, Copy, filters) have one of each; BCJ2 has four
// inputs.
struct coder_info {
  coder_bytes method_id;   // {0x21} LZMA2, {0x00} Copy, ...
  coder_bytes properties;  // LZMA2: the dictionary byte; Copy: none
  std::uint32_t in_streams = 1;
  std::uint32_t out_streams = 1;
  bool operator==(const coder_info&) const = default;
};

inline const coder_bytes kMethodCopy{0x00};
inline const coder_bytes kMethodLzma2{0x21};
inline const coder_bytes kMethodLzma{0x03, 0x01, 0x01};

// Feeds the coder input `in_index` (counted over all coders' inputs, in
// coder order) from the coder output `out_index` (counted likewise).
struct bind_pair {
  std::uint64_t in_index = 0;
  std::uint64_t out_index = 0;
  bool operator==(const bind_pair&) const = default;
};

// How a folder's coders are wired: a graph of coders whose one unbound
// output is the folder's content. Folders this writer makes have one coder
// and one pack stream; folders read from other archives keep whatever graph
// they have, so that a header written back describes them exactly.
struct folder_graph {
  small_vector<coder_info, 1> coders;
  std::vector<bind_pair> bind_pairs;
  // The coder inputs fed by this folder's pack streams, in pack stream order.
  small_vector<std::uint64_t, 1> packed_streams{0};

  std::size_t total_in_streams() const noexcept;
  std::size_t total_out_streams() const noexcept;
  // The output no bind pair consumes: the folder's content.
  std::size_t main_output() const noexcept;
  bool operator==(const folder_graph&) const = default;
};

// A folder: its graph and what differs from folder to folder. Folders of
// one method and settings share one graph (an archive of a million one-file
// folders holds a million folders, twice during a commit): 56 bytes each
// where a graph of their own took 192.
//
// The sizes keep their first element inline: a span into them does not
// survive moving the folder.
struct folder_info {
  explicit folder_info(std::shared_ptr<const folder_graph> graph, small_vector<std::uint64_t, 1> sizes = {},
                       std::optional<std::uint32_t> crc = std::nullopt);
  explicit folder_info(const folder_graph& graph, small_vector<std::uint64_t, 1> sizes = {},
                       std::optional<std::uint32_t> crc = std::nullopt);
  folder_info(const folder_info&) = default;
  folder_info& operator=(const folder_info&) = default;
  // Boost 1.74 does not declare small_vector's move noexcept, and a vector
  // of folders would copy them as it grows. Moving inline sizes allocates
  // nothing, so it cannot throw.
  folder_info(folder_info&&) noexcept = default;
  folder_info& operator=(folder_info&&) noexcept = default;
  ~folder_info() = default;

  const folder_graph& graph() const noexcept { return *graph_; }
  const std::shared_ptr<const folder_graph>& shared_graph() const noexcept { return graph_; }
  const small_vector<coder_info, 1>& coders() const noexcept { return graph_->coders; }
  const std::vector<bind_pair>& bind_pairs() const noexcept { return graph_->bind_pairs; }
  const small_vector<std::uint64_t, 1>& packed_streams() const noexcept { return graph_->packed_streams; }
  std::size_t total_in_streams() const noexcept { return graph_->total_in_streams(); }
  std::size_t total_out_streams() const noexcept { return graph_->total_out_streams(); }
  std::size_t main_output() const noexcept { return graph_->main_output(); }
  std::uint64_t unpack_size() const noexcept;

  small_vector<std::uint64_t, 1> unpack_sizes;  // one per coder output, in coder order
  std::optional<std::uint32_t> unpack_crc;      // of the folder's content (7-Zip sets it for the encoded header)

 private:
  std::shared_ptr<const folder_graph> graph_;  // never null (but in a moved-from folder)
};
static_assert(sizeof(folder_info) <= 56);

// The graph of one coder fed by one pack stream. The same coder gives the
// same graph: folders made one by one share it.
std::shared_ptr<const folder_graph> one_coder_graph(const coder_info& coder);

// A folder this writer makes: one coder, one pack stream.
folder_info make_folder(const coder_info& coder, std::uint64_t unpack_size,
                        std::optional<std::uint32_t> unpack_crc = std::nullopt);

// Ordered by alignment: with an archive's database held for the whole mount
// and a new one built at every commit, padding is paid per file.
struct file_info {
  std::string name;                    // UTF-8 archive path
  std::optional<std::uint64_t> mtime;  // FILETIME: 100 ns ticks since 1601
  // Creation and access times (FILETIME), kept from archives that store them
  // (7zz -mtc=on -mta=on) so that a rewritten header does not drop them.
  std::optional<std::uint64_t> ctime;
  std::optional<std::uint64_t> atime;
  std::optional<std::uint32_t> attributes;  // Windows attributes | 0x8000 | st_mode << 16
  bool has_stream = false;
  bool is_directory = false;  // meaningful only without a stream
  // Read from an archive whose stored name was not valid UTF-16: `name`
  // has U+FFFD where it was broken. Never written.
  bool name_repaired = false;
};
static_assert(sizeof(file_info) <= 96);

struct archive_database {
  std::uint64_t pack_position = 0;  // first pack stream, relative to byte 32
  // Every pack stream, folder after folder (folder k has
  // folders[k].packed_streams().size() of them), contiguous on disk.
  std::vector<std::uint64_t> pack_sizes;
  std::vector<folder_info> folders;
  std::vector<std::uint64_t> substream_counts;  // files per folder (never 0)
  std::vector<std::uint64_t> substream_sizes;   // all folders' files, in order
  std::vector<std::optional<std::uint32_t>> substream_crcs;
  std::vector<file_info> files;  // stream files appear in substream order

  bool empty() const noexcept { return files.empty(); }
};

}  // namespace sevenzfs::archive
