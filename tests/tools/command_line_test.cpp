// getopt_long over a vector: both value forms, order kept, errors named.
#include "tools/command_line.hpp"

#include <gtest/gtest.h>

using sevenzfs::tools::command_line;
using kind = command_line::item::kind;

namespace {

enum : int { kLevel = 256, kFlag };
constexpr option kOptions[] = {
    {"level", required_argument, nullptr, kLevel}, {"flag", no_argument, nullptr, kFlag}, {nullptr, 0, nullptr, 0}};

std::vector<command_line::item> all(const std::vector<std::string>& args, const std::string& short_options = "o:v") {
  command_line line(args, short_options);
  std::vector<command_line::item> items;
  for (auto item = line.next(kOptions); item.what != kind::end; item = line.next(kOptions)) {
    items.push_back(item);
    if (item.what == kind::error) break;
  }
  return items;
}

}  // namespace

TEST(CommandLine, BothValueFormsAndOrder) {
  const auto items = all({"a", "--level=5", "b", "--level", "7", "-o", "x", "-oy", "--flag", "-v", "c"});
  ASSERT_EQ(items.size(), 9u);
  EXPECT_EQ(items[0].what, kind::positional);
  EXPECT_EQ(items[0].value, "a");
  EXPECT_EQ(items[1].option, kLevel);
  EXPECT_EQ(items[1].value, "5");
  EXPECT_EQ(items[2].value, "b");
  EXPECT_EQ(items[3].option, kLevel);
  EXPECT_EQ(items[3].value, "7");
  EXPECT_EQ(items[4].option, 'o');
  EXPECT_EQ(items[4].value, "x");
  EXPECT_EQ(items[5].value, "y");
  EXPECT_EQ(items[6].option, kFlag);
  EXPECT_EQ(items[7].option, 'v');
  EXPECT_EQ(items[8].what, kind::positional);
  EXPECT_EQ(items[8].value, "c");
}

TEST(CommandLine, DoubleDashMakesTheRestPositional) {
  const auto items = all({"--flag", "--", "--level=3", "-v"});
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[1].what, kind::positional);
  EXPECT_EQ(items[1].value, "--level=3");
  EXPECT_EQ(items[2].value, "-v");
}

TEST(CommandLine, ErrorsNameTheOption) {
  EXPECT_EQ(all({"--bogus"}).back().value, "unknown option '--bogus'");
  EXPECT_EQ(all({"--bogus=1"}).back().value, "unknown option '--bogus'");
  EXPECT_EQ(all({"-q"}).back().value, "unknown option '-q'");
  EXPECT_EQ(all({"--level"}).back().value, "--level needs a value");
  EXPECT_EQ(all({"-o"}).back().value, "-o needs a value");
  EXPECT_EQ(all({"--flag=1"}).back().value, "--flag takes no value");
  for (const auto& args : std::vector<std::vector<std::string>>{{"--bogus"}, {"--level"}, {"--flag=1"}}) {
    EXPECT_EQ(all(args).back().what, kind::error);
  }
}

TEST(CommandLine, EachParseStartsAfresh) {
  // getopt keeps state in globals; a second parser must not inherit it.
  EXPECT_EQ(all({"-vv"}).size(), 2u);
  command_line half({"-vv", "x"}, "v");
  EXPECT_EQ(half.next(kOptions).option, 'v');  // abandoned in the middle of "-vv"
  const auto items = all({"a", "-v"});
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].value, "a");
  EXPECT_EQ(items[1].option, 'v');
}

TEST(CommandLine, HelpAndVersionAreFoundBeforeTheDoubleDashOnly) {
  using sevenzfs::tools::asks_for_help_or_version;
  EXPECT_TRUE(asks_for_help_or_version({"stats", "--bogus", "-h"}).help);
  EXPECT_TRUE(asks_for_help_or_version({"--version"}).version);
  EXPECT_FALSE(asks_for_help_or_version({"--version"}).help);
  const auto after_dash = asks_for_help_or_version({"out.7z", "--", "--help", "-V"});
  EXPECT_FALSE(after_dash.help);
  EXPECT_FALSE(after_dash.version);
  // Only the options themselves, not values that contain them.
  EXPECT_FALSE(asks_for_help_or_version({"--help=1", "-hV"}).help);
}
