// The daemon's command line and the write options it derives from it.
#include "fs/daemon_options.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sevenzfs::fs {
namespace {

daemon_options parsed(const std::string& options) {
  const auto result = parse_daemon_command_line({"-o", options, "/tmp/a.7z", "/tmp/mnt"});
  EXPECT_TRUE(result.options.has_value()) << result.error;
  return result.options.value_or(daemon_options{});
}

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

// Threads + 1 parts fit in half of the pool; parts stay between 1 MiB and
// 256 MiB.
TEST(DaemonOptions, PartsOfThreadsPlusOneFillHalfOfThePool) {
  EXPECT_EQ(daemon_write_options(parsed("pool_size=128M,threads=2")).compression.max_part_bytes, 128 * kMiB / 2 / 3);
  EXPECT_EQ(daemon_write_options(parsed("pool_size=128M,threads=1")).compression.max_part_bytes, 128 * kMiB / 2 / 2);
  EXPECT_EQ(daemon_write_options(parsed("pool_size=4M,threads=2")).compression.max_part_bytes, kMiB);
  EXPECT_EQ(daemon_write_options(parsed("pool_size=4G,threads=2")).compression.max_part_bytes, 256 * kMiB);
}

TEST(DaemonOptions, RefusesAPoolSizeThatIsNotASize) {
  const auto result = parse_daemon_command_line({"-o", "pool_size=lots", "/tmp/a.7z", "/tmp/mnt"});
  EXPECT_FALSE(result.options.has_value());
  EXPECT_NE(result.error.find("pool_size"), std::string::npos) << result.error;
}

}  // namespace
}  // namespace sevenzfs::fs
