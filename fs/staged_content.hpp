#pragma once
// Adapts a staged file to archive/'s entry_content: the compressor reads the
// pool's chunks in place, as spans, without copying them. And content made
// of two: a file's archived start, then its staged (or sealed) rest.
#include "archive/entry.hpp"
#include "pool/staging_store.hpp"

#include <memory>

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

class joined_content final : public archive::entry_content {
 public:
  joined_content(std::shared_ptr<const archive::entry_content> head, std::shared_ptr<const archive::entry_content> tail)
      : head_(std::move(head)), tail_(std::move(tail)) {}

  void visit(const archive::span_sink& sink) const override {
    head_->visit(sink);
    tail_->visit(sink);
  }

 private:
  std::shared_ptr<const archive::entry_content> head_;
  std::shared_ptr<const archive::entry_content> tail_;
};

}  // namespace sevenzfs::fs
