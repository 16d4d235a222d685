// Commit progress while a control blocks: the bar fits the terminal, plain
// lines are rate-limited, and the display reads from its own thread.
#include "tools/ctl_progress.hpp"

#include "ctl_fakes.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <thread>

using namespace sevenzfs::tools;
using namespace sevenzfs::test;
using namespace std::chrono_literals;

TEST(CtlProgress, BarFitsAndSaysHowFar) {
  const commit_figures half{true, 200u << 20, 100u << 20};
  const auto bar = format_progress_bar("flush", half, 10.0 * (1 << 20), 80);
  EXPECT_LE(bar.size(), 80u) << bar;
  EXPECT_NE(bar.find(" 50.0 %  100.0 MiB of 200.0 MiB  10.0 MiB/s  ETA 10s"), std::string::npos) << bar;
  const auto cells = bar.substr(bar.find('[') + 1, bar.find(']') - bar.find('[') - 1);
  EXPECT_GE(cells.size(), 10u);
  EXPECT_EQ(cells, std::string(cells.size() / 2, '#') + std::string(cells.size() - cells.size() / 2, '.')) << bar;
  // Narrow: the rate goes first, the bar keeps 10 columns.
  const auto narrow = format_progress_bar("flush", half, 10.0 * (1 << 20), 50);
  EXPECT_EQ(narrow.find("MiB/s"), std::string::npos) << narrow;
  EXPECT_NE(narrow.find("[#####.....]"), std::string::npos) << narrow;
  // The bar keeps its width while the rate and ETA come and change: only
  // the terminal's width sets it.
  const auto cells_of = [](const std::string& line) { return line.find(']') - line.find('['); };
  for (const double rate : {0.0, 10.0 * (1 << 20), 1000.0, 1.0}) {
    EXPECT_EQ(cells_of(format_progress_bar("flush", half, rate, 80)), cells_of(bar)) << rate;
  }
  EXPECT_EQ(format_progress_line("unmount", half), "unmount: committing, 50.0 % (104857600 of 209715200 bytes)");
  EXPECT_EQ(format_progress_line("unmount", {true, 0, 0}), "unmount: committing (no new content)");
}

// Everything compressed is not everything durable: the header is still to
// be written and synced, or no commit has begun. As the daemon's
// commit_progress_percent, only nothing pending and no commit reads 100 %.
TEST(CtlProgress, ProgressStaysUnderAHundredPercentUntilTheCommitIsDurable) {
  const commit_figures compressed{true, 1000, 1000};
  EXPECT_EQ(format_progress_line("flush", compressed),
            "flush: committing, 99.9 % (1000 of 1000 bytes; finishing the commit)");
  EXPECT_NE(format_progress_bar("flush", compressed, 0, 80).find(" 99.9 %"), std::string::npos);
  EXPECT_NE(format_progress_bar("flush", {true, 0, 0}, 0, 80).find(" 99.9 %"), std::string::npos);
  EXPECT_NE(format_progress_bar("flush", {false, 1000, 1000}, 0, 80).find(" 99.9 %"), std::string::npos);
  EXPECT_NE(format_progress_bar("flush", {false, 0, 0}, 0, 80).find("100.0 %"), std::string::npos);
}

TEST(CtlProgress, ReadsTheThreeFigures) {
  fake_daemon daemon;
  auto xattrs = daemon.open();
  EXPECT_FALSE(read_commit_figures(*xattrs));
  daemon.set_value("committing", "1");
  daemon.set_value("commit_pending_bytes", "1000");
  daemon.set_value("commit_done_bytes", "250");
  const auto figures = read_commit_figures(*xattrs);
  ASSERT_TRUE(figures);
  EXPECT_TRUE(figures->committing);
  EXPECT_EQ(figures->pending_bytes, 1000u);
  EXPECT_EQ(figures->done_bytes, 250u);
  daemon.set_value("commit_done_bytes", "x");
  EXPECT_FALSE(read_commit_figures(*xattrs));
}

namespace {

// Runs a display while the fake commit steps through `steps` done values.
captured display_commit(bool terminal, std::chrono::milliseconds line_interval) {
  fake_daemon daemon;
  daemon.set_value("committing", "0");
  daemon.set_value("commit_pending_bytes", "1000");
  daemon.set_value("commit_done_bytes", "0");
  auto xattrs = daemon.open();
  return capture([&](std::FILE* out, std::FILE*) {
    progress_display display(*xattrs, out, "flush", {terminal, 60, 5ms, line_interval});
    std::this_thread::sleep_for(100ms);  // not committing yet: nothing drawn
    daemon.set_value("committing", "1");
    for (const char* done : {"0", "500", "1000"}) {
      daemon.set_value("commit_done_bytes", done);
      std::this_thread::sleep_for(150ms);
    }
    daemon.set_value("committing", "0");
    std::this_thread::sleep_for(50ms);
    display.stop();
    return 0;
  });
}

}  // namespace

TEST(CtlProgress, TerminalBarIsRedrawnInPlaceAndCleared) {
  const auto result = display_commit(true, 5000ms);
  const auto& out = result.out;
  EXPECT_EQ(out.find('\n'), std::string::npos) << "redrawn with \\r only";
  EXPECT_NE(out.find("  0.0 %"), std::string::npos) << out;
  EXPECT_NE(out.find(" 50.0 %"), std::string::npos) << out;
  // All compressed, the commit still running: under 100 %.
  EXPECT_NE(out.find(" 99.9 %"), std::string::npos) << out;
  EXPECT_EQ(out.find("100.0 %"), std::string::npos) << out;
  EXPECT_LT(out.find(" 50.0 %"), out.find(" 99.9 %"));
  // Every frame is one terminal line wide at most (59 columns for 60).
  std::size_t start = 0;
  while ((start = out.find('\r', start)) != std::string::npos) {
    const auto end = std::min(out.find('\r', start + 1), out.size());
    EXPECT_LE(end - start - 1, 59u);
    start = end;
  }
  // Cleared at the end: the last frame is blanks.
  const auto last = out.rfind('\r', out.size() - 2);
  EXPECT_EQ(out.substr(last + 1, out.size() - last - 2), std::string(59, ' ')) << "cleared";
}

TEST(CtlProgress, PlainLinesAreRateLimited) {
  const auto every = display_commit(false, 0ms);
  EXPECT_NE(every.out.find("flush: committing, 50.0 % (500 of 1000 bytes)\n"), std::string::npos) << every.out;
  EXPECT_EQ(every.out.find('\r'), std::string::npos);
  const auto seldom = display_commit(false, 60000ms);
  EXPECT_EQ(std::count(seldom.out.begin(), seldom.out.end(), '\n'), 1) << seldom.out;
  EXPECT_EQ(seldom.out, "flush: committing, 0.0 % (0 of 1000 bytes)\n");
}
