// The views of the statistics: aligned lines with units for people, the
// Prometheus text format (checked line by line and by prometheus_client's
// parser), and key=value lines for logs.
#include "tools/ctl_stats_format.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>

using namespace sevenzfs::tools;
using namespace sevenzfs::test;

namespace {

// A document with every kind of value the contract has.
constexpr const char* kDocument =
    R"({"version":"0.2.0","archive":"/srv/a \"q\" \\ b.7z","pid":4242,"uptime_seconds":90061,"mode":"solid",)"
    R"("level":5,"files":12,"staged_bytes":123456789,"archived_bytes":512,"packed_to_unpacked_ratio":0.038,)"
    R"("pool_wait_seconds_total":0.25,"commits_total":7,"failed_commits_total":1,"committing":0,)"
    R"("commit_progress_percent":100,"last_commit_unix_seconds":1700000000,"last_commit_duration_seconds":75.5,)"
    R"("last_commit_bytes_per_second":12345678.5,"last_error":"disk full\nretry","last_error_unix_seconds":0})";

stat_list document() {
  auto stats = parse_stats_json(kDocument);
  EXPECT_TRUE(stats) << stats.error();
  return stats ? *stats : stat_list{};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST(CtlStatsFormat, Units) {
  EXPECT_EQ(format_iec_bytes(512), "512 B");
  EXPECT_EQ(format_iec_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_iec_bytes(123456789), "117.7 MiB");
  EXPECT_EQ(format_iec_bytes(5.0 * (1ull << 40)), "5.0 TiB");
  EXPECT_EQ(format_duration(42), "42s");
  EXPECT_EQ(format_duration(1.25), "1.25s");
  EXPECT_EQ(format_duration(125), "2m 5s");
  EXPECT_EQ(format_duration(90061), "1d 1h 1m 1s");
  EXPECT_EQ(format_utc(1700000000), "2023-11-14 22:13:20 UTC");
}

TEST(CtlStatsFormat, HumanLinesAreAlignedAndSayTheUnits) {
  const auto text = format_human(document(), 1700000100);
  const auto lines = lines_of(text);
  ASSERT_EQ(lines.size(), document().size()) << text;
  // Every value starts in the same column.
  const std::size_t column = std::string("last_commit_bytes_per_second  ").size();
  for (const auto& line : lines) {
    ASSERT_GT(line.size(), column) << line;
    EXPECT_NE(line[column], ' ') << line;
    EXPECT_EQ(line[column - 1], ' ') << line;
  }
  EXPECT_NE(text.find("staged_bytes                  123456789   117.7 MiB\n"), std::string::npos) << text;
  EXPECT_NE(text.find("uptime_seconds                90061       1d 1h 1m 1s\n"), std::string::npos) << text;
  EXPECT_NE(text.find("3.8 % of the unpacked size"), std::string::npos) << text;
  EXPECT_NE(text.find("2023-11-14 22:13:20 UTC, 1m 40s ago"), std::string::npos) << text;
  EXPECT_NE(text.find("11.8 MiB/s"), std::string::npos) << text;
  EXPECT_NE(text.find("1m 15s"), std::string::npos) << "last_commit_duration_seconds\n" << text;
  EXPECT_NE(text.find("last_error_unix_seconds       0           never"), std::string::npos) << text;
  EXPECT_NE(text.find("disk full\\nretry"), std::string::npos) << "a string stays on its line\n" << text;
  EXPECT_NE(text.find("archived_bytes                512\n"), std::string::npos) << "no unit under 1 KiB\n" << text;
}

TEST(CtlStatsFormat, PrometheusLinesAreWellFormed) {
  const auto text = format_prometheus({{"/mnt/a", document()}, {"/mnt/b \"2\"", document()}});
  const std::regex help(R"(# HELP (sevenzfs_[a-z0-9_]+) \S.*)");
  const std::regex type(R"(# TYPE (sevenzfs_[a-z0-9_]+) (gauge|counter))");
  const std::string label_value = R"("(?:[^"\\\n]|\\\\|\\"|\\n)*")";
  const std::regex sample("(sevenzfs_[a-z0-9_]+)\\{mountpoint=" + label_value + "(?:,[a-z_][a-z0-9_]*=" + label_value +
                          ")*\\} (-?[0-9.]+(?:e[-+]?[0-9]+)?)");
  std::set<std::string> helped;
  std::string current;
  std::size_t samples = 0;
  for (const auto& line : lines_of(text)) {
    std::smatch match;
    if (std::regex_match(line, match, help)) {
      EXPECT_TRUE(helped.insert(match[1]).second) << "second HELP for " << match[1];
      current = match[1];
    } else if (std::regex_match(line, match, type)) {
      EXPECT_EQ(match[1], current) << line;
      EXPECT_EQ(match[2] == "counter", current.ends_with("_total")) << line;
    } else if (std::regex_match(line, match, sample)) {
      EXPECT_EQ(match[1], current) << "a sample under its own HELP/TYPE: " << line;
      ++samples;
    } else {
      ADD_FAILURE() << "malformed line: " << line;
    }
  }
  // Every number of both mounts, plus one info sample each.
  EXPECT_EQ(samples, 2 * (document().size() - 4) + 2);
  EXPECT_NE(text.find("sevenzfs_staged_bytes{mountpoint=\"/mnt/a\"} 123456789\n"), std::string::npos) << text;
  EXPECT_NE(text.find("sevenzfs_packed_to_unpacked_ratio{mountpoint=\"/mnt/b \\\"2\\\"\"} 0.038\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("sevenzfs_info{mountpoint=\"/mnt/a\",version=\"0.2.0\",archive=\"/srv/a \\\"q\\\" \\\\ "
                      "b.7z\",mode=\"solid\",last_error=\"disk full\\nretry\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE sevenzfs_commits_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE sevenzfs_staged_bytes gauge\n"), std::string::npos);
}

TEST(CtlStatsFormat, PrometheusClientParsesIt) {
  if (run("/usr/bin/python3 -c 'import prometheus_client'").exit_code != 0) {
    GTEST_SKIP() << "python3-prometheus-client is missing (tools/install-deps.sh installs it)";
  }
  temp_dir dir;
  write_file(dir / "metrics.prom", format_prometheus({{"/mnt/a", document()}, {"/mnt/b \"2\"", document()}}));
  const char* script =
      "import sys\n"
      "from prometheus_client.parser import text_string_to_metric_families as parse\n"
      "families = list(parse(open(sys.argv[1]).read()))\n"
      "byname = {f.name: f for f in families}\n"
      "s = [x for x in byname['sevenzfs_staged_bytes'].samples if x.labels['mountpoint'] == '/mnt/b \"2\"']\n"
      "info = byname['sevenzfs_info'].samples[0].labels\n"
      "print(len(families), byname['sevenzfs_commits'].type, s[0].value, info['archive'], info['last_error'] == "
      "'disk full\\nretry')\n";
  const auto result = run("/usr/bin/python3 -c " + quote(script) + " " + quote((dir / "metrics.prom").string()));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "17 counter 123456789.0 /srv/a \"q\" \\ b.7z True\n");
}

TEST(CtlStatsFormat, WatchLineHasTheKeyFigures) {
  const auto line = format_watch_line(document(), 1700000000);
  EXPECT_EQ(line,
            "2023-11-14T22:13:20Z files=12 staged_bytes=123456789 archived_bytes=512 committing=0 "
            "commit_progress_percent=100 commits_total=7 failed_commits_total=1 last_error_unix_seconds=0");
}
