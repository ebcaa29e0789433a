// The leaderboard's HTML report and CSV (results/report_html.h, results/report_csv.h,
// results/svg.h).
#include "results/report_html.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "results/leaderboard.h"
#include "results/published.h"
#include "results/report_csv.h"
#include "results/result_file.h"
#include "results/svg.h"
#include "tests/core/fixtures.h"
#include "tests/core/result_fixtures.h"

namespace clbench {
namespace report_testing {

using nlohmann::json;
using testing::make_run;

const std::string kHostile = "<script>alert(\"x\")</script>, 'q'";

size_t occurrences(const std::string& text, const std::string& word) {
  size_t n = 0;
  for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) ++n;
  return n;
}

// RFC 4180 records: quoted fields may hold commas, doubled quotes and line breaks.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    std::string& field = rows.back().back();
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().emplace_back();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      rows.emplace_back(1);
      ++i;
    } else {
      field += c;
    }
  }
  if (rows.back() == std::vector<std::string>(1)) rows.pop_back();  // after the last CRLF
  return rows;
}

// Benchmark b: label x (seeds 0..2, acc 62 ± 2) and y (one seed); benchmark a: one run with a
// hostile label whose class-IL matrix holds 57.5; an unfinished run and a file that is no HDF5.
class ReportTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    write_result(path("b/x/run-a.h5"), make_run("b", "x", 2, 60, 68, 87, 97));
    write_result(path("b/x/run-b.h5"), make_run("b", "x", 0, 56, 64, 85, 95));
    write_result(path("b/x/run-c.h5"), make_run("b", "x", 1, 58, 66, 86, 96));
    write_result(path("b/y/seed-0.h5"), make_run("b", "y", 0, 76, 84, 90, 90));
    write_result(path("a/h/seed-0.h5"), make_run("a", kHostile, 0, 57.5, 42.5, 70, 70));
    RunResult running = make_run("b", "unfinished-label", 3, 1, 1, 1, 1);
    running.status = "running";
    write_result(path("b/u/unfinished.h5"), running);
    std::ofstream(path("b/broken.h5")) << "not hdf5";
    GatherOptions options;
    options.keep_runs = true;
    board_ = gather_leaderboard(root(), options);
  }
  Leaderboard board_;
};

TEST_F(ReportTest, GatherKeepsEachRunOnlyWhenAsked) {
  ASSERT_EQ(board_.entries.size(), 3u);
  const LeaderboardEntry& x = board_.entries[2];
  ASSERT_EQ(x.run_list.size(), 3u);
  for (int64_t seed = 0; seed < 3; ++seed) EXPECT_EQ(x.run_list[seed].result.seed, seed);
  EXPECT_EQ(x.run_list[0].path, path("b/x/run-b.h5"));
  EXPECT_TRUE(x.run_list[0].result.config_json.empty());
  const Leaderboard plain = gather_leaderboard(root());
  EXPECT_TRUE(plain.entries[2].run_list.empty());
  EXPECT_EQ(to_json(plain), to_json(board_));  // the outputs that were are as they were
  EXPECT_EQ(to_markdown(plain), to_markdown(board_));
}

TEST_F(ReportTest, CurveEndsAtTheFinalAccuracy) {
  const std::vector<double> curve = accuracy_curve({{80, 10}, {56, 64}});
  ASSERT_EQ(curve.size(), 2u);
  EXPECT_DOUBLE_EQ(curve[0], 80);
  EXPECT_DOUBLE_EQ(curve[1], 60);
  EXPECT_DOUBLE_EQ(curve[1], final_accuracy({{80, 10}, {56, 64}}));
}

TEST_F(ReportTest, HtmlHasATableAFigureSetAndAHeatMapPerRun) {
  const std::string html = report_html(board_);
  EXPECT_EQ(occurrences(html, "<table class=\"leaderboard\""), 2u);  // benchmarks a and b
  // Per benchmark and scenario: class-IL and task-IL curves, a scatter, three cost plots.
  EXPECT_EQ(occurrences(html, "<svg class=\"figure curve\""), 4u);
  EXPECT_EQ(occurrences(html, "<svg class=\"figure scatter\""), 2u);
  EXPECT_EQ(occurrences(html, "<svg class=\"figure cost\""), 6u);
  EXPECT_EQ(occurrences(html, "<svg class=\"figure heatmap\""), 5u);  // one per complete run
  EXPECT_EQ(occurrences(html, "<svg "), 17u);
  for (size_t at = html.find("<svg "); at != std::string::npos; at = html.find("<svg ", at + 1))
    EXPECT_EQ(html.compare(html.find('>', at) + 1, 7, "<title>"), 0);  // its accessible name
  EXPECT_EQ(occurrences(html, "<details>"), 3u);                       // one per row
  EXPECT_NE(html.find(">57.5</text>"), std::string::npos);             // a cell's value
  EXPECT_NE(html.find("<td>62.00 ± 2.00</td>"), std::string::npos);    // the table's cell
  EXPECT_NE(html.find("Class-IL accuracy on the tasks seen so far, b class-il"), std::string::npos);
}

TEST_F(ReportTest, HtmlListsSkippedFilesAndDrawsNothingOfThem) {
  const std::string html = report_html(board_);
  const size_t skipped = html.find("<section id=\"skipped\">");
  ASSERT_NE(skipped, std::string::npos);
  EXPECT_NE(html.find(path("b/u/unfinished.h5"), skipped), std::string::npos);
  EXPECT_NE(html.find("status is &#39;running&#39;, not &#39;complete&#39;", skipped),
            std::string::npos);
  EXPECT_NE(html.find(path("b/broken.h5"), skipped), std::string::npos);
  EXPECT_EQ(html.find("unfinished-label"), std::string::npos);
  EXPECT_EQ(html.find(path("b/u/unfinished.h5")), html.find(path("b/u/unfinished.h5"), skipped));
}

TEST_F(ReportTest, HtmlEscapesLabelsAndNeedsNothingOutside) {
  const std::string html = report_html(board_);
  EXPECT_EQ(html.find(kHostile), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;, &#39;q&#39;"),
            std::string::npos);
  for (const char* outside : {"http://", "https://", "<link", "<script src", "@import", "url("})
    EXPECT_EQ(html.find(outside), std::string::npos) << outside;
}

TEST_F(ReportTest, HtmlTableHasThePaperColumns) {
  const json number = {{"benchmark", "b"},
                       {"scenario", "class-il"},
                       {"method", "method-x"},
                       {"label", "x"},
                       {"metric", "final_acc"},
                       {"value", 60.5},
                       {"source", {{"paper", "P"}, {"table", "T1"}, {"row", "x"}}}};
  const PublishedJoin join =
      join_published(board_, parse_published(json{{"numbers", {number}}}, "p.json"));
  const std::string html = report_html(board_, published_addition(join));
  EXPECT_NE(html.find("<th scope=\"col\">paper</th><th scope=\"col\">Δ</th>"), std::string::npos);
  EXPECT_NE(html.find("<td>60.50</td><td>+1.50</td>"), std::string::npos);

  const auto rows = parse_csv(report_csv(board_, &join));
  const auto& h = rows[0];
  const auto column = [&](const std::string& name) {
    return static_cast<size_t>(std::find(h.begin(), h.end(), name) - h.begin());
  };
  ASSERT_LT(column("final_acc_delta"), h.size());
  for (const auto& r : rows) {
    const bool matched = r[column("kind")] == "aggregate" && r[column("label")] == "x";
    EXPECT_EQ(r[column("final_acc_paper")], matched ? "60.5" : r == h ? "final_acc_paper" : "");
    if (matched) {
      EXPECT_DOUBLE_EQ(std::strtod(r[column("final_acc_delta")].c_str(), nullptr), 1.5);
    }
  }
}

TEST_F(ReportTest, CsvHasARowPerAggregateAndPerRunWithTheLeaderboardsNumbers) {
  const auto rows = parse_csv(report_csv(board_));
  ASSERT_EQ(rows.size(), 1u + 3 + 5);  // header, 3 aggregates, 5 runs
  const auto& h = rows[0];
  for (const auto& r : rows) ASSERT_EQ(r.size(), h.size());
  const auto column = [&](const std::string& name) {
    const auto at = std::find(h.begin(), h.end(), name);
    EXPECT_NE(at, h.end()) << name;
    return static_cast<size_t>(at - h.begin());
  };
  EXPECT_EQ(h[0], "kind");
  EXPECT_EQ(std::find(h.begin(), h.end(), "final_acc_paper"), h.end());  // no join: no paper
  const json board = to_json(board_);
  size_t row = 1;
  for (size_t i = 0; i < board_.entries.size(); ++i) {
    const LeaderboardEntry& e = board_.entries[i];
    const auto& agg = rows[row++];
    EXPECT_EQ(agg[column("kind")], "aggregate");
    EXPECT_EQ(agg[column("label")], e.label);  // the hostile one round-trips
    EXPECT_EQ(agg[column("seed")], "");
    EXPECT_EQ(agg[column("runs")], std::to_string(e.runs));
    for (const auto& s : accuracy_statistics()) {
      const std::string name = s.name;
      EXPECT_EQ(std::strtod(agg[column(name)].c_str(), nullptr), board["entries"][i][name]["mean"]);
      EXPECT_EQ(std::strtod(agg[column(name + "_std")].c_str(), nullptr),
                board["entries"][i][name]["std"]);
    }
    for (const auto& s : cost_statistics()) {
      const json& value = board["entries"][i][s.name];
      if (value.is_null()) {
        EXPECT_EQ(agg[column(s.name)], "") << s.name;
      } else {
        EXPECT_EQ(std::strtod(agg[column(s.name)].c_str(), nullptr), value["mean"]) << s.name;
      }
    }
    for (const auto& run : e.run_list) {
      const auto& r = rows[row++];
      EXPECT_EQ(r[column("kind")], "run");
      EXPECT_EQ(r[column("seed")], std::to_string(run.result.seed));
      EXPECT_EQ(r[column("file")], run.path);
      EXPECT_EQ(r[column("final_acc_std")], "");
      EXPECT_EQ(std::strtod(r[column("final_acc")].c_str(), nullptr),
                run.result.class_il.final_acc);
      EXPECT_EQ(std::strtod(r[column("peak_host_bytes")].c_str(), nullptr), 300 << 20);
    }
  }
  EXPECT_EQ(rows[6][column("label")], "x");
  EXPECT_EQ(rows[6][column("seed")], "0");
  EXPECT_EQ(rows[6][column("final_acc")], "60");
  EXPECT_EQ(csv_field("a,\"b\"\nc"), "\"a,\"\"b\"\"\nc\"");
  EXPECT_EQ(csv_field("plain"), "plain");
}

TEST(ReportSvg, EscapesScalesAndColours) {
  EXPECT_EQ(svg::escape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
  EXPECT_EQ(svg::shortened("ééé", 3), "é…");  // never half a character
  EXPECT_EQ(svg::number(12.50), "12.5");
  EXPECT_EQ(svg::tick_label(1234567), "1.23M");
  EXPECT_EQ(svg::ticks({0, 100}, 5), (std::vector<double>{0, 20, 40, 60, 80, 100}));
  EXPECT_EQ(svg::ticks({1, 3, false, true}, 10), (std::vector<double>{1, 2, 3}));
  const svg::Scale log = svg::scale_for({1000, 1234567}, 100);
  EXPECT_TRUE(log.log);
  EXPECT_EQ(svg::ticks(log, 5), (std::vector<double>{1e3, 1e4, 1e5, 1e6, 1e7}));
  EXPECT_FALSE(svg::scale_for({1000, 2000}, 100).log);
  EXPECT_EQ(svg::heat_colour(0, 0, 100), "#440154");
  EXPECT_EQ(svg::heat_colour(100, 0, 100), "#fde725");
  EXPECT_EQ(svg::heat_text_colour(100, 0, 100), "#000000");
}

}  // namespace report_testing
}  // namespace clbench
