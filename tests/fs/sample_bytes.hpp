#pragma once
// Seeded file contents for the daemon tests: random bytes (incompressible)
// and text that compresses, yet not trivially.
#include <cstdint>
#include <random>
#include <string>

namespace sevenzfs::test {

inline std::string random_bytes(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 next(seed);
  std::string bytes(size, '\0');
  for (auto& c : bytes) c = static_cast<char>(next());
  return bytes;
}

// Numbered lines with a seeded word salad.
inline std::string text_bytes(std::size_t size, std::uint64_t seed) {
  static const char* const words[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"};
  std::mt19937_64 next(seed);
  std::string text;
  for (std::uint64_t line = 0; text.size() < size; ++line) {
    text += std::to_string(line);
    for (int w = 0; w < 6; ++w) {
      text += ' ';
      text += words[next() % 8];
    }
    text += '\n';
  }
  text.resize(size);
  return text;
}

}  // namespace sevenzfs::test
