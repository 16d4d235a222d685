#include "files_info_parser.hpp"

#include "archive_error.hpp"
#include "header_serializer.hpp"
#include "utf16.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace sevenzfs::archive {

namespace {

using namespace property_id;
constexpr std::uint8_t kAnti = 0x10;

bool ends_with_7z_extension(std::string_view name) {
  if (name.size() <= 3 || name[name.size() - 3] != '.') return false;
  return name[name.size() - 2] == '7' && (name.back() == 'z' || name.back() == 'Z');
}

void read_names(byte_reader& property, std::span<const std::uint8_t> payload, std::vector<file_info>& files) {
  if (property.byte() != 0)
    throw archive_error(error_kind::unsupported, property.context(), "names in an additional stream are not supported");
  for (auto& f : files) {
    const std::size_t start = property.position();
    while (true) {
      const auto pair = property.bytes(2);
      if (pair[0] == 0 && pair[1] == 0) break;
    }
    // A name Linux cannot hold is shown with U+FFFD where it is broken
    // rather than making the whole archive unusable.
    f.name = *utf16le_to_utf8(payload.subspan(start, property.position() - 2 - start), &f.name_repaired);
  }
  if (property.remaining() != 0) property.fail("more names than files");
}

template <typename T>
void read_values(byte_reader& property, std::vector<file_info>& files, std::optional<T> file_info::*member) {
  const auto defined = property.defined_vector(files.size());
  if (property.byte() != 0)
    throw archive_error(error_kind::unsupported, property.context(),
                        "file properties in an additional stream are not supported");
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (!defined[i]) continue;
    if constexpr (sizeof(T) == 8) {
      files[i].*member = property.u64_le();
    } else {
      files[i].*member = property.u32_le();
    }
  }
}

}  // namespace

std::string default_item_name(const std::string& archive_path) {
  std::string name = archive_path.substr(archive_path.rfind('/') + 1);
  if (ends_with_7z_extension(name)) {
    name.resize(name.size() - 3);
  } else if (const auto dot = name.rfind('.'); dot != std::string::npos && dot > 0) {
    name.resize(dot);
  } else {
    name += '~';
  }
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t' || name.back() == '\n')) name.pop_back();
  return name;
}

std::vector<file_info> read_files_info(byte_reader& in, const std::string& archive_path) {
  // Every file takes at least one byte of what follows: its name's
  // terminator, or (nameless) its times and attributes.
  const auto count = in.count();
  std::vector<file_info> files(count);
  std::vector<bool> empty_stream(count, false);
  std::size_t empties = 0;  // entries without a stream: the length of kEmptyFile and kAnti
  std::vector<bool> empty_file;
  for (;;) {
    const auto type = in.byte();
    if (type == kEnd) break;
    const auto size = in.number();
    const std::size_t base = in.position();
    const auto payload = in.bytes(size);
    byte_reader property(payload, archive_path, base);
    switch (type) {
      case kEmptyStream:
        empty_stream = property.bit_vector(count);
        empties = static_cast<std::size_t>(std::ranges::count(empty_stream, true));
        break;
      case kEmptyFile: empty_file = property.bit_vector(empties); break;
      case kAnti:
        if (std::ranges::any_of(property.bit_vector(empties), [](bool b) { return b; })) {
          throw archive_error(error_kind::unsupported, archive_path, "archives with anti-items are not supported");
        }
        break;
      case kName: read_names(property, payload, files); break;
      case kCTime: read_values(property, files, &file_info::ctime); break;
      case kATime: read_values(property, files, &file_info::atime); break;
      case kMTime: read_values(property, files, &file_info::mtime); break;
      case kWinAttributes: read_values(property, files, &file_info::attributes); break;
      default: break;  // StartPos, Dummy, ...: not kept
    }
  }
  std::size_t empty_index = 0;
  std::string nameless;
  for (std::size_t i = 0; i < count; ++i) {
    auto& f = files[i];
    f.has_stream = !empty_stream[i];
    if (empty_stream[i]) {
      f.is_directory = !(empty_index < empty_file.size() && empty_file[empty_index]);
      ++empty_index;
    }
    if (f.name.empty() && !f.is_directory) {
      if (nameless.empty()) nameless = default_item_name(archive_path);
      f.name = nameless;
    }
  }
  return files;
}

}  // namespace sevenzfs::archive
