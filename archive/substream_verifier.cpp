#include "substream_verifier.hpp"

#include <algorithm>

namespace sevenzfs::archive {

substream_verifier::substream_verifier(const archive_snapshot& snapshot, std::size_t folder, std::uint64_t from)
    : folder_(folder),
      next_substream_(snapshot.folder(folder).first_substream),
      end_substream_(next_substream_ + snapshot.folder(folder).substream_count),
      position_(from),
      // A lone substream already carries the folder CRC (7zFormat.txt).
      check_folder_(from == 0 && snapshot.database().folders[folder].unpack_crc.has_value() &&
                    snapshot.folder(folder).substream_count != 1) {
  // The substreams begun before `from` are not seen whole: not checked.
  while (next_substream_ < end_substream_ && snapshot.substream(next_substream_).offset < from) ++next_substream_;
}

void substream_verifier::consume(const archive_snapshot& snapshot, std::span<const std::uint8_t> data) {
  if (check_folder_) folder_crc_.update(data);
  const std::uint64_t end = position_ + data.size();
  for (;;) {
    finish_substreams(snapshot);  // also the empty ones, which end where they start
    if (next_substream_ == end_substream_ || data.empty()) break;
    const auto& location = snapshot.substream(next_substream_);
    if (position_ < location.offset) {  // the rest of a substream begun before `from`
      const auto skip = static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), location.offset - position_));
      position_ += skip;
      data = data.subspan(skip);
      continue;
    }
    const auto take =
        static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), location.offset + location.size - position_));
    substream_crc_.update(data.first(take));
    position_ += take;
    data = data.subspan(take);
  }
  position_ = end;  // bytes past the last substream belong to none
  const auto& db_folder = snapshot.database().folders[folder_];
  if (check_folder_ && position_ == db_folder.unpack_size() && folder_crc_.value() != *db_folder.unpack_crc) {
    const auto& layout = snapshot.folder(folder_);
    for (std::uint64_t s = 0; s < layout.substream_count; ++s)
      snapshot.record_verdict(layout.first_substream + s, false);
  }
}

void substream_verifier::finish_substreams(const archive_snapshot& snapshot) {
  while (next_substream_ < end_substream_) {
    const auto& location = snapshot.substream(next_substream_);
    if (position_ < location.offset + location.size) return;
    if (const auto& expected = snapshot.database().substream_crcs[next_substream_]) {
      snapshot.record_verdict(next_substream_, substream_crc_.value() == *expected);
    }
    substream_crc_ = crc32{};
    ++next_substream_;
  }
}

}  // namespace sevenzfs::archive
