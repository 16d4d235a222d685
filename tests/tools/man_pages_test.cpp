// The man pages render without a warning and describe every option their
// program's --help lists.
#include "operator_files.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>

using namespace sevenzfs::test;

namespace {

const char* const kPages[] = {"sevenzfs.8", "sevenzfs-ctl.1", "sevenzfs-pack.1"};

// The page's text as roff writes it, with \- as -.
std::string page_text(const std::string& page) {
  const std::string roff = read_file(build_dir() / "tools" / "man" / page);
  std::string text;
  for (std::size_t i = 0; i < roff.size(); ++i) {
    if (roff[i] == '\\' && i + 1 < roff.size() && roff[i + 1] == '-') continue;
    text += roff[i];
  }
  return text;
}

std::set<std::string> matches(const std::string& text, const std::regex& pattern) {
  std::set<std::string> found;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), pattern); it != std::sregex_iterator(); ++it) {
    found.insert((*it)[1]);
  }
  return found;
}

}  // namespace

TEST(ManPages, RenderWithoutWarnings) {
  if (run("command -v groff").exit_code != 0) GTEST_SKIP() << "groff is missing (groff-base)";
  for (const char* page : kPages) {
    const auto path = build_dir() / "tools" / "man" / page;
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    const auto result = run("LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z " + quote(path.string()));
    EXPECT_EQ(result.exit_code, 0) << page;
    EXPECT_EQ(result.output, "") << page;
    EXPECT_TRUE(std::filesystem::exists(path.string() + ".gz")) << "compressed for installing";
  }
}

TEST(ManPages, DescribeEveryOptionOfTheirProgram) {
  const std::regex long_option(R"((--[a-z][a-z-]+))");
  const std::pair<std::string, std::string> programs[] = {{ctl_binary(), "sevenzfs-ctl.1"},
                                                          {pack_binary(), "sevenzfs-pack.1"}};
  for (const auto& [program, page] : programs) {
    const auto help = run(program + " --help");
    ASSERT_EQ(help.exit_code, 0) << program;
    const auto options = matches(help.output, long_option);
    EXPECT_GE(options.size(), 5u) << help.output;
    const auto text = page_text(page);
    for (const auto& option : options) EXPECT_NE(text.find(option), std::string::npos) << page << ": " << option;
  }
  // The daemon's -o options.
  const auto help = run(daemon_program() + " --help");
  const auto options = matches(help.output, std::regex(R"(-o ([a-z_]+))"));
  EXPECT_GE(options.size(), 8u) << help.output;
  const auto text = page_text("sevenzfs.8");
  // Each as a tagged paragraph of its own: .B name, .BI name= VALUE, .BR name= choices.
  for (const auto& option : options) {
    EXPECT_TRUE(std::regex_search(text, std::regex("\n\\.TP\n\\.B[IR]? " + option + "[= \n]"))) << option;
  }
}
