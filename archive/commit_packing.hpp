#pragma once
// The compression a commit does: the new files, and the kept files of
// folders that lose others. Both append folders at the end of an output
// file and record them with a database_builder.
#include "archive_snapshot.hpp"
#include "archive_writer.hpp"
#include "commit_plan.hpp"
#include "folder_continuation.hpp"
#include "output_file.hpp"

#include <cstdint>
#include <memory>
#include <optional>

namespace sevenzfs::archive {

// What became of a commit's request.appended_files.
struct appended_packing {
  std::uint64_t continued_bytes = 0;      // archived prefixes copied packed, not compressed again
  std::uint64_t mismatched_prefixes = 0;  // files that did not start with their archived copy
};

// request.new_files, planned and compressed with `options`, but for
// request.appended_files: each goes last in a folder of its own (so that
// the next commit can continue it), one that continues its archived folder
// in `current` (the archive as it is, may be null) where that folder allows
// it and the file starts with the archived one. request.new_files
// `packed_already` (pack_continued_in_place) is left out.
appended_packing pack_new_files(output_file& out, const commit_request& request, const write_options& options,
                                database_builder& builder, const archive_snapshot* current,
                                std::optional<std::size_t> packed_already = std::nullopt);

// The files request.prepacked_folders[index] keeps (it drops some),
// decoded from its packed bytes and compressed in their order into one
// folder. Throws archive_error, also when they cannot be decoded.
void pack_prepacked_survivors(output_file& out, const commit_request& request, std::size_t index,
                              const compression_options& options, database_builder& builder);

// What a commit compresses besides archived folders that lose files: the
// kept files of prepacked folders that drop some, then request.new_files.
// Returns what pack_new_files does.
appended_packing pack_prepacked_survivors_and_new_files(output_file& out, const commit_request& request,
                                                        const write_options& options, database_builder& builder,
                                                        const archive_snapshot* current,
                                                        std::optional<std::size_t> packed_already = std::nullopt);

// request.new_files[file], an appended file that continues archived folder
// `from` where it lies: only the bytes after its prefix are compressed into
// `out`, to go right after the archived packed bytes it keeps, and the
// folder is recorded as the whole stream. False, with nothing written or
// recorded, when it cannot be continued (folder_packer::pack_continued).
bool pack_continued_in_place(output_file& out, const commit_request& request, std::size_t file,
                             const folder_continuation& from, const compression_options& options,
                             database_builder& builder);

// The streams archived folder `folder` keeps (plan.stream_kept), decoded from
// `snapshot` and compressed in their order into one folder. Returns the
// content bytes compressed, or nullopt when the folder cannot be decoded
// (damaged data, a decoder refused): then `out` and `builder` are as they
// were. Other errors (writing `out`) are thrown.
std::optional<std::uint64_t> pack_survivors(output_file& out, const std::shared_ptr<const archive_snapshot>& snapshot,
                                            std::size_t folder, const commit_plan& plan,
                                            const compression_options& options, database_builder& builder);

}  // namespace sevenzfs::archive
