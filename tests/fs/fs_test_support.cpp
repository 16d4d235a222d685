#include "fs_test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>

namespace sevenzfs::test {

fs::daemon_options small_daemon_options(const std::filesystem::path& archive) {
  fs::daemon_options options;
  options.archive_path = archive.string();
  options.mountpoint = "/nonexistent";
  options.recovery_dir = archive.parent_path().string();  // never the machine's /var/tmp
  options.pool_bytes = 4u << 20;
  options.write.compression.level = 1;
  options.write.compression.threads = 1;
  options.write.plan.solid_block_bytes = 64u << 20;
  return options;
}

captured_log::captured_log()
    : logger_(
          [this](fs::log_level level, std::string_view line) {
            std::lock_guard lock(mutex_);
            lines_.push_back(fmt::format("{}: {}", fs::log_level_name(level), line));
          },
          fs::log_level::debug) {}

std::vector<std::string> captured_log::lines() const {
  std::lock_guard lock(mutex_);
  return lines_;
}

std::string captured_log::text() const {
  std::string all;
  for (const auto& line : lines()) all += line + "\n";
  return all;
}

std::string read_all(fs::filesystem& filesystem, fs::inode_number number, std::size_t chunk) {
  std::string content;
  std::vector<std::byte> buffer(chunk);
  for (;;) {
    const auto n = filesystem.read(number, buffer, static_cast<off_t>(content.size()));
    if (!n) {
      ADD_FAILURE() << "read failed: errno " << n.error().code << " " << n.error().message;
      return content;
    }
    if (*n == 0) return content;
    content.append(reinterpret_cast<const char*>(buffer.data()), *n);
  }
}

fs::inode_number make_file(fs::filesystem& filesystem, fs::inode_number parent, const std::string& name,
                           const std::string& text, mode_t mode) {
  const auto made = filesystem.create(parent, name, S_IFREG | mode, O_WRONLY, {::getuid(), ::getgid(), {}});
  if (!made) {
    ADD_FAILURE() << "create " << name << ": errno " << made.error().code;
    return 0;
  }
  const auto written = filesystem.write(made->st_ino, bytes_of_text(text), 0);
  EXPECT_TRUE(written && *written == text.size()) << name;
  filesystem.release(made->st_ino, O_WRONLY);
  return made->st_ino;
}

}  // namespace sevenzfs::test
