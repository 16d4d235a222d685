#pragma once
// Adapts a staged file to archive/'s entry_content: the compressor reads the
// pool's chunks in place, as spans, without copying them.
#include "archive/entry.hpp"
#include "pool/staging_store.hpp"

namespace sevenzfs::fs {

class staged_content final : public archive::entry_content {
 public:
  staged_content(const pool::staging_store& store, const pool::staged_file& file) : store_(store), file_(file) {}

  void visit(const archive::span_sink& sink) const override {
    store_.for_each_span(file_, [&](std::span<const std::byte> bytes) {
      sink(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
    });
  }

 private:
  const pool::staging_store& store_;
  const pool::staged_file& file_;
};

}  // namespace sevenzfs::fs
