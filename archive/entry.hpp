#pragma once
// The hand-off into archive/: a plain description of one archive entry plus
// its bytes as a sequence of spans. Callers (the pack tool, the daemon) adapt
// their own storage to `entry_content`; archive/ never sees where bytes live.
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sevenzfs::archive {

using span_sink = std::function<void(std::span<const std::uint8_t>)>;

// Delivers an entry's whole content, in order, as spans. `visit` may be called
// more than once (the writer re-reads a folder it decides to store uncompressed)
// and must deliver the same bytes each time; it throws archive_error on failure.
class entry_content {
 public:
  virtual ~entry_content() = default;
  virtual void visit(const span_sink& sink) const = 0;
  // Delivers bytes [offset, offset + size) of the content (fewer only when
  // it is shorter). The default visits everything and skips; content that
  // can seek (a file on disk) overrides it, as pieces of a large file are
  // compressed on several threads.
  virtual void visit_range(std::uint64_t offset, std::uint64_t size, const span_sink& sink) const;

  // Content whose first `bytes` are, by construction, an archived stream's
  // (a file the archive held, appended to without being read back): a
  // continuation of that stream trusts them without reading them, and reads
  // from `cheap_from` on only (the bytes before would have to be decoded).
  struct archived_start {
    std::uint64_t bytes = 0;
    std::uint64_t cheap_from = 0;
  };
  virtual std::optional<archived_start> starts_archived() const { return std::nullopt; }

  // Nobody wants these bytes any more (the file they were taken from was
  // removed or changed since): a compressor may skip what only they fill.
  // Once true, true for good.
  virtual bool abandoned() const noexcept { return false; }
};

// Content held in memory: symlink targets, small generated files, tests.
class memory_content final : public entry_content {
 public:
  explicit memory_content(std::vector<std::uint8_t> bytes) : bytes_(std::move(bytes)) {}
  explicit memory_content(std::string_view text) : bytes_(text.begin(), text.end()) {}
  void visit(const span_sink& sink) const override { sink(bytes_); }

 private:
  std::vector<std::uint8_t> bytes_;
};

enum class entry_kind { file, directory, symlink };

struct entry {
  std::string path;  // archive path: UTF-8, '/'-separated, no leading/trailing '/'
  entry_kind kind = entry_kind::file;
  std::uint32_t mode = 0;                        // permission bits (07777); the type bits follow from `kind`
  std::timespec mtime{};                         // modification time
  std::uint64_t size = 0;                        // content bytes (a symlink's target length); 0 for directories
  std::shared_ptr<const entry_content> content;  // null when size == 0
};

// The S_IFMT bits of a kind, and the kind of an st_mode (nullopt: devices,
// FIFOs and sockets, which 7z cannot hold).
std::uint32_t type_bits(entry_kind kind) noexcept;
std::optional<entry_kind> kind_of_mode(std::uint32_t st_mode) noexcept;

// Full st_mode (type | permissions) of an entry, as 7z's Unix extension stores it.
std::uint32_t unix_mode_of(const entry& e) noexcept;

}  // namespace sevenzfs::archive
