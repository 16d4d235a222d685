#include "ctl_stats.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

namespace sevenzfs::tools {

namespace {

class json_reader {
 public:
  explicit json_reader(std::string_view text) : text_(text) {}

  std::expected<stat_list, std::string> parse() {
    try {
      return object();
    } catch (const parse_failure&) {
      return std::unexpected(error_);
    }
  }

 private:
  // Thrown by fail(), caught in parse(): nothing else sees it.
  struct parse_failure {};

  stat_list object() {
    stat_list entries;
    expect('{');
    skip_space();
    if (peek() == '}') {
      ++position_;
      return finish(std::move(entries));
    }
    for (;;) {
      skip_space();
      std::string key = string();
      expect(':');
      skip_space();
      const char c = peek();
      if (c == '"') {
        entries.push_back({std::move(key), string(), true});
      } else if (c == '-' || (c >= '0' && c <= '9')) {
        entries.push_back({std::move(key), number(), false});
      } else if (literal("true")) {
        entries.push_back({std::move(key), "1", false});
      } else if (literal("false")) {
        entries.push_back({std::move(key), "0", false});
      } else if (!literal("null")) {
        fail("a number or a string");
      }
      skip_space();
      if (peek() == ',') {
        ++position_;
        continue;
      }
      expect('}');
      return finish(std::move(entries));
    }
  }

  stat_list finish(stat_list entries) {
    skip_space();
    if (position_ != text_.size()) fail("the end of the document");
    return entries;
  }

  [[noreturn]] void fail(std::string_view expected) {
    error_ = fmt::format("expected {} at byte {} of the statistics document", expected, position_);
    throw parse_failure{};
  }

  char peek() const { return position_ < text_.size() ? text_[position_] : '\0'; }

  void skip_space() {
    while (position_ < text_.size() && (text_[position_] == ' ' || text_[position_] == '\n' ||
                                        text_[position_] == '\r' || text_[position_] == '\t')) {
      ++position_;
    }
  }

  void expect(char c) {
    skip_space();
    if (peek() != c) fail(fmt::format("'{}'", c));
    ++position_;
  }

  bool literal(std::string_view word) {
    if (text_.substr(position_, word.size()) != word) return false;
    position_ += word.size();
    return true;
  }

  unsigned hex4() {
    if (position_ + 4 > text_.size()) fail("four hex digits");
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(text_.data() + position_, text_.data() + position_ + 4, value, 16);
    if (ec != std::errc{} || end != text_.data() + position_ + 4) fail("four hex digits");
    position_ += 4;
    return value;
  }

  static void append_utf8(std::string& out, std::uint32_t code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  std::string string() {
    expect('"');
    std::string value;
    for (;;) {
      if (position_ >= text_.size()) fail("the end of a string");
      const char c = text_[position_++];
      if (c == '"') return value;
      if (static_cast<unsigned char>(c) < 0x20) fail("no control character in a string");
      if (c != '\\') {
        value += c;
        continue;
      }
      const char escaped = peek();
      ++position_;
      switch (escaped) {
        case '"': value += '"'; break;
        case '\\': value += '\\'; break;
        case '/': value += '/'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'n': value += '\n'; break;
        case 'r': value += '\r'; break;
        case 't': value += '\t'; break;
        case 'u': {
          std::uint32_t code = hex4();
          if (code >= 0xD800 && code < 0xDC00 && literal("\\u")) {
            const unsigned low = hex4();
            if (low < 0xDC00 || low >= 0xE000) fail("a low surrogate");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(value, code);
          break;
        }
        default: fail("an escape sequence");
      }
    }
  }

  // The JSON number grammar; the text is kept as written.
  std::string number() {
    const std::size_t start = position_;
    auto digits = [&] {
      const std::size_t first = position_;
      while (peek() >= '0' && peek() <= '9') ++position_;
      if (position_ == first) fail("a digit");
    };
    if (peek() == '-') ++position_;
    if (peek() == '0') {
      ++position_;
    } else {
      digits();
    }
    if (peek() == '.') {
      ++position_;
      digits();
    }
    if (peek() == 'e' || peek() == 'E') {
      ++position_;
      if (peek() == '+' || peek() == '-') ++position_;
      digits();
    }
    return std::string(text_.substr(start, position_ - start));
  }

  std::string_view text_;
  std::size_t position_ = 0;
  std::string error_;
};

}  // namespace

std::expected<stat_list, std::string> parse_stats_json(std::string_view json) { return json_reader(json).parse(); }

const stat_entry* find_stat(const stat_list& stats, std::string_view key) {
  for (const auto& entry : stats) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

std::optional<double> number_value(const stat_entry& entry) {
  if (entry.is_string) return std::nullopt;
  double value = 0;
  const auto [end, ec] = std::from_chars(entry.text.data(), entry.text.data() + entry.text.size(), value);
  if (ec != std::errc{} || end != entry.text.data() + entry.text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

std::optional<double> number_stat(const stat_list& stats, std::string_view key) {
  const auto* entry = find_stat(stats, key);
  return entry ? number_value(*entry) : std::nullopt;
}

std::optional<std::uint64_t> count_stat(const stat_list& stats, std::string_view key) {
  const auto* entry = find_stat(stats, key);
  if (!entry || entry->is_string) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(entry->text.data(), entry->text.data() + entry->text.size(), value);
  if (ec != std::errc{} || end != entry->text.data() + entry->text.size()) return std::nullopt;
  return value;
}

std::string string_stat(const stat_list& stats, std::string_view key) {
  const auto* entry = find_stat(stats, key);
  return entry ? entry->text : std::string{};
}

}  // namespace sevenzfs::tools
