#include "coder_methods.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace sevenzfs::archive {

namespace {

struct known_method {
  std::array<std::uint8_t, 4> id;
  std::size_t id_size;
  coder_method method;
  const char* name;
};

// Both spellings 7z uses for the branch filters: the short ids shared with
// xz and the older 03 03 xx xx ids 7-Zip still writes for x86, PPC, IA64,
// ARM, ARMT and SPARC.
constexpr std::array kKnownMethods{
    known_method{{0x00}, 1, coder_method::copy, "Copy"},
    known_method{{0x03}, 1, coder_method::delta, "Delta"},
    known_method{{0x04}, 1, coder_method::bcj_x86, "BCJ"},
    known_method{{0x05}, 1, coder_method::bcj_ppc, "PPC"},
    known_method{{0x06}, 1, coder_method::bcj_ia64, "IA64"},
    known_method{{0x07}, 1, coder_method::bcj_arm, "ARM"},
    known_method{{0x08}, 1, coder_method::bcj_armt, "ARMT"},
    known_method{{0x09}, 1, coder_method::bcj_sparc, "SPARC"},
    known_method{{0x0A}, 1, coder_method::bcj_arm64, "ARM64"},
    known_method{{0x0B}, 1, coder_method::bcj_riscv, "RISCV"},
    known_method{{0x21}, 1, coder_method::lzma2, "LZMA2"},
    known_method{{0x03, 0x01, 0x01}, 3, coder_method::lzma, "LZMA"},
    known_method{{0x03, 0x03, 0x01, 0x03}, 4, coder_method::bcj_x86, "BCJ"},
    known_method{{0x03, 0x03, 0x01, 0x1B}, 4, coder_method::bcj2, "BCJ2"},
    known_method{{0x03, 0x03, 0x02, 0x05}, 4, coder_method::bcj_ppc, "PPC"},
    known_method{{0x03, 0x03, 0x04, 0x01}, 4, coder_method::bcj_ia64, "IA64"},
    known_method{{0x03, 0x03, 0x05, 0x01}, 4, coder_method::bcj_arm, "ARM"},
    known_method{{0x03, 0x03, 0x07, 0x01}, 4, coder_method::bcj_armt, "ARMT"},
    known_method{{0x03, 0x03, 0x08, 0x05}, 4, coder_method::bcj_sparc, "SPARC"},
    // Listed so that errors name them; never decoded.
    known_method{{0x03, 0x04, 0x01}, 3, coder_method::unsupported, "PPMD"},
    known_method{{0x04, 0x01, 0x08}, 3, coder_method::unsupported, "Deflate"},
    known_method{{0x04, 0x01, 0x09}, 3, coder_method::unsupported, "Deflate64"},
    known_method{{0x04, 0x02, 0x02}, 3, coder_method::unsupported, "BZip2"},
    known_method{{0x04, 0xF7, 0x11, 0x01}, 4, coder_method::unsupported, "ZSTD"},
    known_method{{0x04, 0xF7, 0x11, 0x02}, 4, coder_method::unsupported, "Brotli"},
    known_method{{0x04, 0xF7, 0x11, 0x04}, 4, coder_method::unsupported, "LZ4"},
    known_method{{0x03, 0x03, 0x03, 0x01}, 4, coder_method::unsupported, "Alpha"},
    known_method{{0x03, 0x03, 0x06, 0x05}, 4, coder_method::unsupported, "M68"},
    known_method{{0x02, 0x03, 0x02}, 3, coder_method::unsupported, "Swap2"},
    known_method{{0x02, 0x03, 0x04}, 3, coder_method::unsupported, "Swap4"},
};

const known_method* find_method(std::span<const std::uint8_t> id) noexcept {
  for (const auto& known : kKnownMethods) {
    if (known.id_size == id.size() && std::equal(id.begin(), id.end(), known.id.begin())) return &known;
  }
  return nullptr;
}

}  // namespace

coder_method method_of(std::span<const std::uint8_t> method_id) noexcept {
  const auto* known = find_method(method_id);
  return known != nullptr ? known->method : coder_method::unsupported;
}

std::string method_name(std::span<const std::uint8_t> method_id) {
  if (const auto* known = find_method(method_id)) return known->name;
  // 06 F1 07 01 is 7-Zip's AES-256 + SHA-256; other 06 F1 ids are crypto too.
  if (method_id.size() >= 2 && method_id[0] == 0x06 && method_id[1] == 0xF1) {
    return method_id.size() == 4 && method_id[2] == 0x07 && method_id[3] == 0x01 ? "AES-256 (encrypted)" : "encryption";
  }
  std::string hex;
  for (const auto byte : method_id) hex += fmt::format("{:02X}", byte);
  return fmt::format("method {}", hex.empty() ? "(empty id)" : hex);
}

std::uint32_t method_in_streams(coder_method method) noexcept { return method == coder_method::bcj2 ? 4 : 1; }

std::optional<std::string> unsupported_method(const folder_info& folder) {
  for (const auto& coder : folder.coders()) {
    if (method_of(coder.method_id) == coder_method::unsupported) return method_name(coder.method_id);
  }
  return std::nullopt;
}

}  // namespace sevenzfs::archive
