#pragma once
// Adapts a staged file to archive/'s entry_content: the compressor reads the
// pool's chunks in place, as spans, without copying them.
#include "archive/entry.hpp"
#include "archive/archive_error.hpp"
#include "pool/staging_store.hpp"

namespace sevenzfs::fs {

class staged_content final : public archive::entry_content {
 public:
  staged_content(const pool::staging_store& store, const pool::staged_file& file, std::string path)
      : store_(store), file_(file), path_(std::move(path)) {}

  void visit(const archive::span_sink& sink) const override {
    const bool complete = store_.for_each_span(file_, [&](std::span<const std::byte> bytes) {
      sink(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
    });
    if (!complete) {
      throw archive::archive_error(archive::error_kind::invalid_input, path_, "staged content was partly released");
    }
  }

 private:
  const pool::staging_store& store_;
  const pool::staged_file& file_;
  std::string path_;
};

}  // namespace sevenzfs::fs
