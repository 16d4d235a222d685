// The statistics document: a flat JSON object read in order, numbers kept
// exactly as the daemon wrote them.
#include "tools/ctl_stats.hpp"

#include <gtest/gtest.h>

using namespace sevenzfs::tools;

TEST(CtlStats, ReadsNumbersAndStringsInOrder) {
  const auto stats =
      parse_stats_json(R"({"version":"0.2.0", "pid":42,"packed_to_unpacked_ratio":0.038 ,"big":18446744073709551615,)"
                       "\n"
                       R"("neg":-1.5e-3,"archive":"/srv/a \"b\"\\c\/d\n\t","yes":true,"no":false,"gone":null})"
                       "\n");
  ASSERT_TRUE(stats) << stats.error();
  ASSERT_EQ(stats->size(), 8u);
  EXPECT_EQ((*stats)[0].key, "version");
  EXPECT_TRUE((*stats)[0].is_string);
  EXPECT_EQ((*stats)[1].text, "42");
  EXPECT_FALSE((*stats)[1].is_string);
  EXPECT_EQ((*stats)[2].text, "0.038");
  EXPECT_EQ(count_stat(*stats, "big"), 18446744073709551615ull);
  EXPECT_EQ((*stats)[4].text, "-1.5e-3");
  EXPECT_DOUBLE_EQ(*number_stat(*stats, "neg"), -0.0015);
  EXPECT_EQ(string_stat(*stats, "archive"), "/srv/a \"b\"\\c/d\n\t");
  EXPECT_EQ(count_stat(*stats, "yes"), 1u);
  EXPECT_EQ(count_stat(*stats, "no"), 0u);
  EXPECT_EQ(find_stat(*stats, "gone"), nullptr);
  EXPECT_EQ(count_stat(*stats, "archive"), std::nullopt) << "a string is no number";
  EXPECT_EQ(count_stat(*stats, "neg"), std::nullopt);
}

TEST(CtlStats, UnicodeEscapesBecomeUtf8) {
  const auto stats = parse_stats_json(R"({"s":"\u00e9\u20ac\ud83d\ude00x"})");
  ASSERT_TRUE(stats) << stats.error();
  EXPECT_EQ(string_stat(*stats, "s"), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80x");
  EXPECT_TRUE(parse_stats_json("{}")->empty());
}

TEST(CtlStats, MalformedDocumentsAreErrorsWithAPosition) {
  for (const char* bad : {"", "[]", "{", "{\"a\":}", "{\"a\":1,}", "{\"a\":{\"b\":1}}", "{\"a\":[1]}", "{\"a\":01x}",
                          "{\"a\":1} x", "{\"a\":\"x}", "{\"a\":\"\\q\"}", "{\"a\":.5}",
                          "{\"a\":\"\\ud83dx\"} trailing", "{a:1}", "{\"a\":\"tab\there\"}"}) {
    const auto stats = parse_stats_json(bad);
    EXPECT_FALSE(stats) << bad;
    if (!stats) {
      EXPECT_NE(stats.error().find("at byte"), std::string::npos) << stats.error();
    }
  }
}
