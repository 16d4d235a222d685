// libFuzzer target over the 7z header parser and the archive reader.
//
// An input that starts like a header (kHeader 0x01 or kEncodedHeader 0x17)
// goes to parse_header / parse_encoded_header directly; anything else is an
// archive file, read with read_archive from an in-memory file after its start
// header CRC and header CRC are made to match (when the start header points
// inside the input), so that mutations reach the parser instead of stopping
// at a CRC check. Damage must end in archive_error; what is accepted must
// serialize back to a header that parses to the same database (an append
// rewrites it), and its dead bytes must lie inside the file.
#include "archive/archive_error.hpp"
#include "archive/archive_reader.hpp"
#include "archive/crc32.hpp"
#include "archive/file_io.hpp"
#include "archive/header_parser.hpp"
#include "archive/header_serializer.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

namespace {

using namespace sevenzfs::archive;

std::uint64_t le(std::span<const std::uint8_t> bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = bytes.size(); i-- > 0;) value = value << 8 | bytes[i];
  return value;
}

void put_le32(std::uint8_t* at, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<std::uint8_t>(value >> (8 * i));
}

void fix_crcs(std::vector<std::uint8_t>& archive) {
  if (archive.size() < kStartHeaderSize) return;
  const std::uint64_t offset = le(std::span(archive).subspan(12, 8));
  const std::uint64_t size = le(std::span(archive).subspan(20, 8));
  const std::uint64_t room = archive.size() - kStartHeaderSize;
  if (offset <= room && size <= room - offset) {
    put_le32(&archive[28], crc32::of(std::span(archive).subspan(kStartHeaderSize + offset, size)));
  }
  put_le32(&archive[8], crc32::of(std::span(archive).subspan(12, 20)));
}

// What was accepted must survive being written back.
void check_round_trip(const archive_database& db) {
  const auto header = serialize_header(db);
  const auto again = serialize_header(parse_header(header, "fuzz.7z"));
  if (again != header) std::abort();
}

void read_as_archive(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> archive(data, data + size);
  fix_crcs(archive);
  const unique_fd file(::memfd_create("fuzz.7z", MFD_CLOEXEC));
  if (!file) std::abort();
  write_at(file.get(), 0, archive, "fuzz.7z");
  const auto layout = read_archive(file.get(), "fuzz.7z");
  std::uint64_t dead = 0;
  for (const auto& range : dead_ranges(layout)) {
    if (range.size == 0 || range.end() > layout.file_size) std::abort();
    dead += range.size;
  }
  if (dead > layout.file_size) std::abort();
  check_round_trip(layout.db);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const std::span<const std::uint8_t> input(data, size);
    if (size > 0 && data[0] == property_id::kHeader) {
      check_round_trip(parse_header(input, "fuzz.7z"));
    } else if (size > 0 && data[0] == property_id::kEncodedHeader) {
      parse_encoded_header(input, "fuzz.7z");
    } else {
      read_as_archive(data, size);
    }
  } catch (const archive_error&) {
    // Refused: what damage must end in. Anything else escapes and crashes.
  }
  return 0;
}
