// The CRC checks of a folder's files as its content is decoded: from the
// folder's start every file is checked; from a point inside it (a decoder
// starting at a dictionary reset), the files that begin at or after that
// point are, and the one it falls inside is left unchecked; a wrong byte
// condemns only the file holding it.
#include "archive/substream_verifier.hpp"

#include "archive/archive_snapshot.hpp"
#include "archive/archive_writer.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace sevenzfs::archive;
using namespace sevenzfs::test;
using verdict = archive_snapshot::crc_verdict;

namespace {

// A solid archive of three files of 100, 200 and 300 bytes, in this order
// in its one folder.
struct solid_three {
  temp_dir dir;
  std::string path = (dir / "a.7z").string();
  std::string content;

  solid_three() {
    std::vector<entry> entries;
    for (const std::size_t size : {100u, 200u, 300u}) {
      entry e;
      e.path = std::to_string(size);
      e.path.insert(e.path.begin(), 'f');  // (not "f" + ...: a false -Wrestrict of GCC 12)
      e.mode = 0644;
      e.size = size;
      std::string bytes;
      for (std::size_t i = 0; i < size; ++i) bytes += static_cast<char>('a' + (i * size) % 26);
      content += bytes;
      e.content = std::make_shared<memory_content>(bytes);
      entries.push_back(std::move(e));
    }
    write_options options;
    options.plan.mode = pack_mode::solid;
    write_archive(path, entries, options);
  }

  // The verdicts after a verifier from `from` consumed the content from
  // there to the end, in pieces of `piece` bytes, with the byte at `wrong`
  // (if any) changed.
  std::vector<verdict> verdicts(std::uint64_t from, std::size_t piece, std::size_t wrong = SIZE_MAX) const {
    const auto snapshot = archive_snapshot::open(path);
    EXPECT_EQ(snapshot->substream_count(), 3u);
    const std::vector<std::uint64_t> offsets{0, 100, 300};
    for (std::uint64_t s = 0; s < 3; ++s) EXPECT_EQ(snapshot->substream(s).offset, offsets[s]);
    std::string bytes = content;
    if (wrong < bytes.size()) bytes[wrong] ^= 0x01;
    substream_verifier verifier(*snapshot, 0, from);
    for (std::size_t at = from; at < bytes.size(); at += piece) {
      const std::string_view part = std::string_view(bytes).substr(at, piece);
      verifier.consume(*snapshot, std::span(reinterpret_cast<const std::uint8_t*>(part.data()), part.size()));
    }
    return {snapshot->verdict(0), snapshot->verdict(1), snapshot->verdict(2)};
  }
};

}  // namespace

TEST(SubstreamVerifier, FromTheStartEveryFileIsChecked) {
  const solid_three archive;
  EXPECT_EQ(archive.verdicts(0, 64), (std::vector{verdict::good, verdict::good, verdict::good}));
  EXPECT_EQ(archive.verdicts(0, 600), (std::vector{verdict::good, verdict::good, verdict::good}));
  EXPECT_EQ(archive.verdicts(0, 7, 150), (std::vector{verdict::good, verdict::bad, verdict::good}));
}

TEST(SubstreamVerifier, FromInsideAFileTheFilesAfterItAreChecked) {
  const solid_three archive;
  EXPECT_EQ(archive.verdicts(50, 64), (std::vector{verdict::unchecked, verdict::good, verdict::good}));
  EXPECT_EQ(archive.verdicts(100, 64), (std::vector{verdict::unchecked, verdict::good, verdict::good}))
      << "a file beginning exactly where the verifier does is checked";
  EXPECT_EQ(archive.verdicts(150, 1), (std::vector{verdict::unchecked, verdict::unchecked, verdict::good}));
  EXPECT_EQ(archive.verdicts(150, 64, 160), (std::vector{verdict::unchecked, verdict::unchecked, verdict::good}))
      << "a wrong byte in the file the verifier starts inside is not seen";
  EXPECT_EQ(archive.verdicts(150, 64, 400), (std::vector{verdict::unchecked, verdict::unchecked, verdict::bad}));
}
