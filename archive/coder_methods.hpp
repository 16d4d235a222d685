#pragma once
// The coder methods the folder decoder knows, by their 7z method ids
// (7-Zip DOC/Methods.txt), and the check a caller makes before reading a
// folder: which of its methods, if any, cannot be decoded here.
#include "archive_database.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace sevenzfs::archive {

enum class coder_method {
  copy,
  lzma,
  lzma2,
  bcj_x86,
  bcj_ppc,
  bcj_ia64,
  bcj_arm,
  bcj_armt,
  bcj_sparc,
  bcj_arm64,
  bcj_riscv,
  delta,
  bcj2,
  unsupported,  // PPMd, BZip2, Deflate, AES, zstd, ...: listed, never decoded
};

coder_method method_of(std::span<const std::uint8_t> method_id) noexcept;

// A human name for any method id ("LZMA2", "PPMD", "AES-256", or the id in
// hex when it is not one 7-Zip lists).
std::string method_name(std::span<const std::uint8_t> method_id);

// Inputs and outputs a coder of `method` has (BCJ2: 4 and 1; others 1 and 1).
std::uint32_t method_in_streams(coder_method method) noexcept;

// The name of the first method of `folder` this decoder cannot decode, or
// nullopt when every coder is supported. Callers check it before reading so
// that an unsupported file is reported once, not at every read.
std::optional<std::string> unsupported_method(const folder_info& folder);

}  // namespace sevenzfs::archive
