#include "folder_survivors.hpp"

#include "archive_error.hpp"
#include "crc32.hpp"
#include "folder_decoder.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <vector>

namespace sevenzfs::archive {

namespace {

constexpr std::size_t kReadBytes = std::size_t{256} << 10;

}  // namespace

struct folder_survivors::state {
  std::shared_ptr<const archive_snapshot> snapshot;
  std::size_t folder = 0;
  std::optional<folder_decoder> decoder;
  std::vector<std::uint8_t> buffer;
  bool failed = false;

  // Runs a decoding step; its archive_error marks the folder as failed.
  template <typename Step>
  auto decoding(Step&& step) {
    try {
      return step();
    } catch (const archive_error&) {
      failed = true;
      throw;
    }
  }
};

class folder_survivors::survivor final : public entry_content {
 public:
  survivor(std::shared_ptr<state> shared, std::uint64_t stream) : state_(std::move(shared)), stream_(stream) {}

  void visit(const span_sink& sink) const override {
    state& s = *state_;
    const archive_snapshot& snapshot = *s.snapshot;
    const auto& where = snapshot.substream(stream_);
    s.decoding([&] {
      if (!s.decoder || s.decoder->position() > where.offset) {
        const auto& layout = snapshot.folder(s.folder);
        s.decoder.emplace(snapshot.fd(), snapshot.path(), snapshot.database().folders.at(s.folder), layout.packs);
      }
      s.decoder->skip(where.offset - s.decoder->position());
    });
    s.buffer.resize(kReadBytes);
    crc32 crc;
    for (std::uint64_t left = where.size; left > 0;) {
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, s.buffer.size()));
      const std::size_t got = s.decoding([&] {
        const std::size_t n = s.decoder->read(std::span(s.buffer.data(), want));
        if (n == 0) {
          throw archive_error(error_kind::corrupt_archive, snapshot.path(),
                              fmt::format("{}: the folder ends inside the file", snapshot.substream_name(stream_)));
        }
        return n;
      });
      const std::span<const std::uint8_t> bytes(s.buffer.data(), got);
      crc.update(bytes);
      sink(bytes);
      left -= got;
    }
    const auto expected = snapshot.database().substream_crcs.at(stream_);
    s.decoding([&] {
      if (expected && *expected != crc.value()) {
        throw archive_error(error_kind::corrupt_archive, snapshot.path(),
                            fmt::format("{}: CRC mismatch", snapshot.substream_name(stream_)));
      }
    });
  }

 private:
  std::shared_ptr<state> state_;
  std::uint64_t stream_;
};

folder_survivors::folder_survivors(std::shared_ptr<const archive_snapshot> snapshot, std::size_t folder)
    : state_(std::make_shared<state>()) {
  state_->snapshot = std::move(snapshot);
  state_->folder = folder;
}

std::shared_ptr<const entry_content> folder_survivors::content(std::uint64_t stream) const {
  if (state_->snapshot->substream(stream).folder != state_->folder) {
    throw archive_error(error_kind::invalid_input, state_->snapshot->path(), "a survivor of another folder");
  }
  return std::make_shared<survivor>(state_, stream);
}

bool folder_survivors::failed() const noexcept { return state_->failed; }

}  // namespace sevenzfs::archive
