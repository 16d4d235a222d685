#pragma once
// Byte sizes on command lines (sevenzfs-pack, the daemon's -o options): a number with an optional binary suffix
// (K, M, G, T; an optional trailing "iB" or "B"), e.g. 64M, 1G, 4096.
#include <cstdint>
#include <optional>
#include <string_view>

namespace sevenzfs::archive {

std::optional<std::uint64_t> parse_size(std::string_view text);

}  // namespace sevenzfs::archive
