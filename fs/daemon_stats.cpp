#include "daemon_stats.hpp"

#include <fmt/format.h>

namespace sevenzfs::fs {

namespace {

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        else
          out += c;
    }
  }
  return out + "\"";
}

}  // namespace

std::string stats_json(const std::vector<stat_value>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ",";
    out += json_string(values[i].name) + ":" + (values[i].is_number ? values[i].text : json_string(values[i].text));
  }
  return out + "}\n";
}

}  // namespace sevenzfs::fs
