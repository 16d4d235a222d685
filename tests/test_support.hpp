#pragma once
// Helpers shared by the tests: temporary directories that clean up after
// themselves, running shell commands, reading files.
#include <chrono>
#include <cstdint>
#include <functional>
#include <filesystem>
#include <string>
#include <vector>

namespace sevenzfs::test {

class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// A tmpfs of `size` (as mount -o size= takes it: "2m") at `where`, created,
// for tests that need a full disk; lazily unmounted on destruction.
// mounted() says whether the mount worked.
class small_tmpfs {
 public:
  small_tmpfs(std::filesystem::path where, const std::string& size);
  ~small_tmpfs();
  small_tmpfs(const small_tmpfs&) = delete;
  small_tmpfs& operator=(const small_tmpfs&) = delete;
  bool mounted() const noexcept { return mounted_; }
  std::filesystem::path operator/(const std::string& name) const { return where_ / name; }

 private:
  std::filesystem::path where_;
  bool mounted_ = false;
};

struct command_result {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `command` through /bin/sh and captures its output.
command_result run(const std::string& command);
// Single-quotes `text` for /bin/sh.
std::string quote(const std::string& text);

std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& content);
// Damages the byte at `offset` of the file (throws when it cannot).
void flip_byte(const std::filesystem::path& path, std::uint64_t offset);
std::vector<std::uint8_t> bytes_of(const std::string& text);
// `size` bytes from a generator seeded with `seed`: incompressible, and the
// same for the same seed.
std::vector<std::uint8_t> noise(std::size_t size, std::uint32_t seed);

// Polls `condition` until it holds or `timeout` passes; returns whether it
// held. Tests wait with a deadline, so a bug fails them instead of hanging.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Where the built programs are (set by CMake).
std::string pack_binary();

}  // namespace sevenzfs::test
