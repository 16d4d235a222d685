#pragma once
// 7z stores names as UTF-16LE; Linux names are bytes that we require to be
// UTF-8. Characters outside the BMP become surrogate pairs, as 7-Zip writes them.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sevenzfs::archive {

// UTF-16LE bytes of `utf8` without a terminator, or nullopt when `utf8` is not
// valid UTF-8 (overlong forms, surrogates, code points above U+10FFFF, truncation).
std::optional<std::vector<std::uint8_t>> utf8_to_utf16le(std::string_view utf8);

}  // namespace sevenzfs::archive

namespace sevenzfs::archive {

// UTF-8 of UTF-16LE code units (surrogate pairs joined). An unpaired
// surrogate makes it nullopt, or with `replaced` becomes U+FFFD and sets
// *replaced.
std::optional<std::string> utf16le_to_utf8(std::span<const std::uint8_t> utf16, bool* replaced = nullptr);

}  // namespace sevenzfs::archive
