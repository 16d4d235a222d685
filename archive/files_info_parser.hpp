#pragma once
// Parses the FilesInfo section of a 7z header (part of header_parser):
// names, empty-stream and empty-file bits, times and attributes.
#include "archive_database.hpp"
#include "byte_reader.hpp"

#include <string>
#include <vector>

namespace sevenzfs::archive {

// The name 7-Zip gives an entry stored without a name (no kName at all, as
// `7zz a -si` writes, or an empty one) — CPP/7zip/UI/Common/DefaultName.cpp,
// checked against `7zz l` and `7zz x` of such archives: the archive's file
// name without its ".7z" extension (any case); failing that, without its
// last extension when it has one after the first character; failing that,
// with "~" appended; then trailing spaces dropped. "x.7z" gives "x",
// "x.tar.gz" "x.tar", "noext" "noext~", ".7z" ".7z~". Every such file gets
// this same name; a nameless directory keeps the empty name (7-Zip lists it
// with an empty path and extracts nothing for it).
std::string default_item_name(const std::string& archive_path);

// Reads FilesInfo after its kFilesInfo id. `archive_path` names the archive
// in errors and gives default_item_name.
std::vector<file_info> read_files_info(byte_reader& in, const std::string& archive_path);

}  // namespace sevenzfs::archive
