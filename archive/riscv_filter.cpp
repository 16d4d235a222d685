#include "riscv_filter.hpp"

#include "archive_error.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace sevenzfs::archive {

namespace {

constexpr std::size_t kBufferSize = 64 * 1024;
constexpr std::size_t kLookahead = 8;  // an AUIPC pair spans 8 bytes

std::uint32_t load_le(const std::uint8_t* p) noexcept {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24;
}

std::uint32_t load_be(const std::uint8_t* p) noexcept {
  return std::uint32_t{p[3]} | std::uint32_t{p[2]} << 8 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[0]} << 24;
}

void store_le(std::uint8_t* p, std::uint32_t value) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(value >> (8 * i));
}

// JAL whose rd is x1 (ra) or x5 (t0): the 20-bit target was stored absolute
// as bits [20:1] of the address, big-endian in bytes 1..3.
void decode_jal(std::uint8_t* p, std::uint32_t pc) noexcept {
  const std::uint32_t b1 = p[1];
  const std::uint32_t b2 = p[2];
  const std::uint32_t b3 = p[3];
  const std::uint32_t address = (((b1 & 0xF0) << 13) | (b2 << 9) | (b3 << 1)) - pc;
  // Back into the J-type immediate: imm[20|10:1|11|19:12].
  p[1] = static_cast<std::uint8_t>((b1 & 0x0F) | ((address >> 8) & 0xF0));
  p[2] = static_cast<std::uint8_t>(((address >> 16) & 0x0F) | ((address >> 7) & 0x10) | ((address << 4) & 0xE0));
  p[3] = static_cast<std::uint8_t>(((address >> 4) & 0x7F) | ((address >> 13) & 0x80));
}

// AUIPC at p (its rd is neither x0 nor x2) followed by an instruction whose
// rs1 is AUIPC's rd and whose opcode is not compressed: the encoder would
// have converted it, so this is the swapped form of an input that looked
// like a marker. Returns false when the pair does not qualify.
bool decode_plain_auipc(std::uint8_t* p, std::uint32_t auipc) noexcept {
  const std::uint32_t second = load_le(p + 4);
  const bool same_register = ((auipc >> 7) & 0x1F) == ((second >> 15) & 0x1F);
  if (!same_register || (second & 3) != 3) return false;
  const std::uint32_t address = (auipc & 0xFFFFF000) + (second >> 20);
  store_le(p, 0x17 | (2u << 7) | (second << 12));
  store_le(p + 4, address);
  return true;
}

// A marker AUIPC (rd x2, the second instruction's low 20 bits in [31:12])
// followed by the absolute address big-endian. Returns false when `auipc`
// is not a marker (its would-be rs1 is x0 or x2, or the packed opcode is
// compressed).
bool decode_marker_auipc(std::uint8_t* p, std::uint32_t auipc, std::uint32_t pc) noexcept {
  const std::uint32_t second_rs1 = auipc >> 27;
  const bool rd_is_x2 = ((auipc >> 7) & 0x1F) == 2;
  const bool packed_opcode_full = ((auipc >> 12) & 3) == 3;
  if (!rd_is_x2 || !packed_opcode_full || second_rs1 == 0 || second_rs1 == 2) return false;
  const std::uint32_t address = load_be(p + 4) - pc;
  const std::uint32_t second = (auipc >> 12) | (address << 20);
  // The second instruction's 12-bit immediate is sign-extended, so AUIPC
  // carries the rounded upper part.
  const std::uint32_t first = 0x17 | (second_rs1 << 7) | ((address + 0x800) & 0xFFFFF000);
  store_le(p, first);
  store_le(p + 4, second);
  return true;
}

class riscv_source final : public byte_source {
 public:
  riscv_source(source_ptr input, std::uint32_t start, std::uint64_t output_size)
      : input_(std::move(input)), buffer_(kBufferSize), position_(start), remaining_(output_size) {}

  std::size_t read(std::span<std::uint8_t> out) override {
    out = out.first(static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), remaining_)));
    std::size_t done = 0;
    while (done < out.size()) {
      if (ready_ == 0 && !fill()) break;
      const std::size_t n = std::min(out.size() - done, ready_);
      std::memcpy(out.data() + done, buffer_.data() + start_, n);
      start_ += n;
      ready_ -= n;
      done += n;
    }
    remaining_ -= done;
    return done;
  }

  std::uint64_t memory_usage() const noexcept override { return buffer_.size() + input_->memory_usage(); }

 private:
  // Makes more bytes final; false at the end of the stream.
  bool fill() {
    // Keep the undecided tail, read behind it, decode what is decidable.
    const std::size_t tail = end_ - start_;
    std::memmove(buffer_.data(), buffer_.data() + start_, tail);
    start_ = 0;
    end_ = tail;
    if (!input_ended_) {
      const std::size_t got = input_->read(std::span(buffer_).subspan(end_));
      input_ended_ = got < buffer_.size() - end_;
      end_ += got;
    }
    if (input_ended_ && end_ - tail == 0 && tail == 0) return false;
    std::size_t decided = riscv_decode(std::span(buffer_).first(end_), position_);
    if (input_ended_) decided = end_;  // the last bytes were never converted
    position_ += static_cast<std::uint32_t>(decided);
    ready_ = decided;
    return ready_ > 0;
  }

  source_ptr input_;
  std::vector<std::uint8_t> buffer_;
  std::size_t start_ = 0;  // first byte not yet returned
  std::size_t ready_ = 0;  // decoded bytes from start_
  std::size_t end_ = 0;    // end of the bytes read
  std::uint32_t position_;
  std::uint64_t remaining_;
  bool input_ended_ = false;
};

}  // namespace

std::size_t riscv_decode(std::span<std::uint8_t> buffer, std::uint32_t position) noexcept {
  if (buffer.size() < kLookahead) return 0;
  const std::size_t last = buffer.size() - kLookahead;
  std::size_t i = 0;
  // Instructions are 2-byte aligned (the C extension), so step by 2.
  for (; i <= last; i += 2) {
    std::uint8_t* p = buffer.data() + i;
    const std::uint32_t pc = position + static_cast<std::uint32_t>(i);
    if (p[0] == 0xEF) {                  // JAL
      if ((p[1] & 0x0D) != 0) continue;  // rd other than x1 or x5
      decode_jal(p, pc);
      i += 2;
    } else if ((p[0] & 0x7F) == 0x17) {  // AUIPC
      const std::uint32_t auipc = load_le(p);
      if ((auipc & 0xE80) != 0) {  // rd neither x0 nor x2
        if (!decode_plain_auipc(p, auipc)) {
          // Skip far enough that the next AUIPC's first half is not read as
          // this pair's partner.
          i += 4;
          continue;
        }
      } else if (!decode_marker_auipc(p, auipc, pc)) {
        i += 2;
        continue;
      }
      i += 6;
    }
  }
  return i;
}

source_ptr make_riscv_source(source_ptr input, std::span<const std::uint8_t> properties, std::uint64_t output_size,
                             const std::string& path) {
  std::uint32_t start = 0;
  if (properties.size() == 4) {
    start = load_le(properties.data());
  } else if (!properties.empty()) {
    throw archive_error(error_kind::corrupt_archive, path, "bad RISCV coder properties");
  }
  return std::make_unique<riscv_source>(std::move(input), start, output_size);
}

}  // namespace sevenzfs::archive
