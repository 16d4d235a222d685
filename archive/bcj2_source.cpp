#include "bcj2_source.hpp"

#include "archive_error.hpp"

#include <algorithm>

namespace sevenzfs::archive {

namespace {

constexpr std::size_t kMainBufferSize = 64 * 1024;
constexpr std::size_t kSideBufferSize = 4 * 1024;
constexpr std::uint32_t kTopValue = std::uint32_t{1} << 24;
constexpr int kProbabilityBits = 11;
constexpr std::uint16_t kProbabilityOne = 1 << kProbabilityBits;
constexpr int kAdaptShift = 5;
constexpr std::size_t kContextE9 = 256;
constexpr std::size_t kContextJcc = 257;

constexpr bool is_branch(std::uint8_t previous, std::uint8_t byte) noexcept {
  return (byte & 0xFE) == 0xE8 || (previous == 0x0F && (byte & 0xF0) == 0x80);
}

class bcj2_source final : public byte_source {
 public:
  bcj2_source(std::array<source_ptr, 4> inputs, std::uint64_t output_size, std::string path)
      : main_(std::move(inputs[0]), kMainBufferSize),
        call_(std::move(inputs[1]), kSideBufferSize),
        jump_(std::move(inputs[2]), kSideBufferSize),
        flags_(std::move(inputs[3]), kSideBufferSize),
        remaining_(output_size),
        path_(std::move(path)) {
    probabilities_.fill(kProbabilityOne / 2);
  }

  std::size_t read(std::span<std::uint8_t> out) override {
    out = out.first(static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), remaining_)));
    std::size_t done = 0;
    while (done < out.size()) {
      if (address_position_ < address_.size()) {
        const std::size_t n = std::min(out.size() - done, address_.size() - address_position_);
        std::copy_n(address_.begin() + static_cast<std::ptrdiff_t>(address_position_), n,
                    out.begin() + static_cast<std::ptrdiff_t>(done));
        address_position_ += n;
        done += n;
        continue;
      }
      const auto code = main_.peek();
      if (code.empty()) break;  // the main stream ended early: the short read reports it
      const std::size_t limit = std::min(code.size(), out.size() - done);
      std::size_t copied = 0;
      bool branch = false;
      while (copied < limit) {
        const std::uint8_t byte = code[copied++];
        if (is_branch(previous_, byte)) {
          branch = true;
          break;
        }
        previous_ = byte;
      }
      std::copy_n(code.begin(), copied, out.begin() + static_cast<std::ptrdiff_t>(done));
      main_.consume(copied);
      done += copied;
      position_ += static_cast<std::uint32_t>(copied);
      // An opcode in the last byte of the output has no target to convert.
      if (branch && remaining_ - done > 0) convert_branch(code[copied - 1]);
    }
    remaining_ -= done;
    return done;
  }

  std::uint64_t memory_usage() const noexcept override {
    return sizeof(*this) + main_.memory_usage() + call_.memory_usage() + jump_.memory_usage() + flags_.memory_usage();
  }

 private:
  [[noreturn]] void corrupt(const char* what) const {
    throw archive_error(error_kind::corrupt_archive, path_, std::string("damaged BCJ2 data: ") + what);
  }

  std::uint8_t flag_byte() {
    std::uint8_t byte = 0;
    if (!flags_.next(byte)) corrupt("the range-coded stream ends early");
    return byte;
  }

  bool decode_flag(std::uint16_t& probability) {
    if (!coder_started_) {
      for (int i = 0; i < 5; ++i) code_ = (code_ << 8) | flag_byte();
      range_ = 0xFFFFFFFF;
      coder_started_ = true;
    }
    if (range_ < kTopValue) {
      range_ <<= 8;
      code_ = (code_ << 8) | flag_byte();
    }
    const std::uint32_t bound = (range_ >> kProbabilityBits) * probability;
    if (code_ < bound) {
      range_ = bound;
      probability = static_cast<std::uint16_t>(probability + ((kProbabilityOne - probability) >> kAdaptShift));
      return false;
    }
    range_ -= bound;
    code_ -= bound;
    probability = static_cast<std::uint16_t>(probability - (probability >> kAdaptShift));
    return true;
  }

  void convert_branch(std::uint8_t opcode) {
    const std::size_t context = opcode == 0xE8 ? previous_ : opcode == 0xE9 ? kContextE9 : kContextJcc;
    if (!decode_flag(probabilities_[context])) {
      previous_ = opcode;
      return;
    }
    buffered_input& targets = opcode == 0xE8 ? call_ : jump_;
    std::uint32_t target = 0;
    for (int i = 0; i < 4; ++i) {
      std::uint8_t byte = 0;
      if (!targets.next(byte)) corrupt(opcode == 0xE8 ? "the call stream ends early" : "the jump stream ends early");
      target = (target << 8) | byte;
    }
    // Stored absolute, restored relative to the end of the 4-byte operand.
    position_ += 4;
    const std::uint32_t relative = target - position_;
    for (std::size_t i = 0; i < 4; ++i) address_[i] = static_cast<std::uint8_t>(relative >> (8 * i));
    address_position_ = 0;
    previous_ = address_[3];
  }

  buffered_input main_;
  buffered_input call_;
  buffered_input jump_;
  buffered_input flags_;
  std::uint64_t remaining_;
  std::string path_;
  std::array<std::uint16_t, 258> probabilities_{};
  std::uint32_t range_ = 0;
  std::uint32_t code_ = 0;
  bool coder_started_ = false;
  std::uint8_t previous_ = 0;
  std::uint32_t position_ = 0;  // output position, modulo 2^32 as the format defines it
  std::array<std::uint8_t, 4> address_{};
  std::size_t address_position_ = 4;
};

}  // namespace

source_ptr make_bcj2_source(std::array<source_ptr, 4> inputs, std::uint64_t output_size, const std::string& path) {
  return std::make_unique<bcj2_source>(std::move(inputs), output_size, path);
}

}  // namespace sevenzfs::archive
