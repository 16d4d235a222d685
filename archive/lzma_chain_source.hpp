#pragma once
// The coders liblzma decodes (LZMA, LZMA2, Delta and the BCJ filters for
// x86, PPC, IA64, ARM, ARMT, SPARC and ARM64), as one raw decoder per chain
// of such coders: BCJ over LZMA2 runs in one lzma_stream, as 7-Zip chains it.
#include "byte_source.hpp"
#include "coder_methods.hpp"

#include <lzma.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sevenzfs::archive {

// One coder of a chain, top (the chain's output) first.
struct chain_coder {
  coder_method method;
  std::span<const std::uint8_t> properties;
  std::uint64_t unpack_size;  // this coder's output size: caps an LZMA dictionary, sizes LZMA1
};

// Whether liblzma decodes `method` (everything but Copy, RISC-V and BCJ2).
bool is_liblzma_method(coder_method method) noexcept;
bool is_lzma_method(coder_method method) noexcept;  // LZMA or LZMA2: the bottom of a chain

// liblzma's message for a failure code.
std::string describe_lzma(lzma_ret ret);

// Decodes `input` through `chain` (at most LZMA_FILTERS_MAX coders; when
// the bottom coder is a filter rather than LZMA/LZMA2, at most one less).
// Output is capped at the top coder's unpack size. Dictionaries are capped
// at what the output can reference; the liblzma memory the chain needs is
// taken from `memory_budget`, and a chain needing more than is left is an
// unsupported error. Malformed data is a corrupt_archive error.
source_ptr make_lzma_chain_source(std::span<const chain_coder> chain, source_ptr input, std::uint64_t& memory_budget,
                                  const std::string& path);

}  // namespace sevenzfs::archive
