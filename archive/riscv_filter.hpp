#pragma once
// The RISC-V branch filter decoder (7z method 0B, the same filter as xz's
// since 5.6), which liblzma 5.4 lacks. Written from the algorithm xz
// documents in src/liblzma/simple/riscv.c: JAL with rd x1/x5 stores its
// target absolute (bits reordered big-endian); AUIPC followed by an
// instruction using AUIPC's rd as rs1 is stored as a marker AUIPC (rd x2,
// the second instruction's low 20 bits) plus the absolute address in big
// endian; other AUIPC pairs that would look like that marker are stored
// swapped so the transform stays reversible.
#include "byte_source.hpp"

#include <cstdint>
#include <span>
#include <string>

namespace sevenzfs::archive {

// Decodes in place the instructions that start in `buffer` at least 8 bytes
// before its end; `position` is the stream offset of buffer[0] (plus the
// coder's start offset). Returns how many leading bytes are final; the rest
// must be passed again with more data after them, or left as they are at
// the end of the stream.
std::size_t riscv_decode(std::span<std::uint8_t> buffer, std::uint32_t position) noexcept;

// The filter as a coder; `properties` is empty or a 4-byte start offset.
source_ptr make_riscv_source(source_ptr input, std::span<const std::uint8_t> properties, std::uint64_t output_size,
                             const std::string& path);

}  // namespace sevenzfs::archive
