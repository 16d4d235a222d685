#pragma once
// Byte sizes on command lines: a number with an optional binary suffix
// (K, M, G, T; an optional trailing "iB" or "B"), e.g. 64M, 1G, 4096.
#include <cstdint>
#include <optional>
#include <string_view>

namespace sevenzfs::tools {

std::optional<std::uint64_t> parse_size(std::string_view text);

}  // namespace sevenzfs::tools
