#include "mount_fixture.hpp"

#include <sys/xattr.h>

namespace sevenzfs::test {

void mount_fixture::SetUp() {
  if (const auto why = why_mounts_cannot_work()) GTEST_SKIP() << *why;
  std::filesystem::create_directories(mnt);
}

std::unique_ptr<daemon_process> mount_fixture::mount(const std::string& options) {
  auto daemon = std::make_unique<daemon_process>(archive, mnt, options, log);
  EXPECT_TRUE(daemon->wait_mounted()) << read_file(log);
  return daemon;
}

std::string mount_fixture::extract_all(const std::string& where) {
  const auto out = dir / where;
  return run("7zz x -snld -y -o" + quote(out.string()) + " " + quote(archive.string())).output;
}

std::string join(const std::vector<std::string>& lines) {
  std::string all;
  for (const auto& line : lines) all += line + "\n";
  return all;
}

std::string xattr(const std::filesystem::path& path, const std::string& name) {
  const ssize_t size = ::getxattr(path.c_str(), name.c_str(), nullptr, 0);
  if (size < 0) return "<errno " + std::to_string(errno) + ">";
  std::string value(static_cast<std::size_t>(size), '\0');
  const ssize_t got = ::getxattr(path.c_str(), name.c_str(), value.data(), value.size());
  if (got < 0) return "<errno " + std::to_string(errno) + ">";
  value.resize(static_cast<std::size_t>(got));
  return value;
}

}  // namespace sevenzfs::test
