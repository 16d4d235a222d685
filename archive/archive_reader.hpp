#pragma once
// Opens an existing 7z archive and reads its database, so that a mount can
// show its entries and commits can append to it. Verifies the signature, the
// start header's CRC, the header's CRC and (for an encoded header) the
// unpacked header's CRC, that every position and size lies inside the file
// without overflow, and that the pack streams, packed headers and header do
// not overlap.
//
// An archive is untrusted input: whatever it claims, reading it costs time
// and memory in proportion to the bytes really there (see header_decoder.hpp
// and header_parser.hpp), and the file is only ever read. Errors are
// archive_error naming the archive: corrupt_archive for damage, unsupported
// for valid 7z this reader does not implement (an encrypted header, ...),
// invalid_input for what is not a regular file, io for a failed call.
#include "archive_layout.hpp"

#include <sys/stat.h>

#include <string>

namespace sevenzfs::archive {

// Throws archive_error(invalid_input) naming what `st` describes ("not an
// archive: a FIFO") unless it is a regular file.
void check_regular_file(const struct stat& st, const std::string& path);

// Checks that `path` is a regular file before opening it (a FIFO would block
// the open forever, a device might act on it), then reads it. The layout
// keeps the descriptor it read.
archive_layout read_archive(const std::string& path);

// Reads the archive open on `fd` (a regular file; the caller keeps its locks
// and the descriptor). Only positioned reads are used: the descriptor's
// offset is left alone. `path` names the archive in errors and gives the name
// of entries stored without one.
archive_layout read_archive(int fd, const std::string& path);

}  // namespace sevenzfs::archive
