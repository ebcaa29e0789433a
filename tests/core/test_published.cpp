#include "results/published.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/foundation/error.h"
#include "results/leaderboard.h"
#include "results/result_file.h"
#include "tests/core/fixtures.h"
#include "tests/core/result_fixtures.h"

namespace clbench {
namespace published_testing {

using nlohmann::json;
using testing::expect_error;
using testing::make_run;

// A number every test starts from: valid, every optional field given.
json full_number() {
  return json::parse(R"({
    "benchmark": "b", "scenario": "class-il", "method": "method-x", "label": "x",
    "metric": "final_acc", "value": 60.37, "spread": 1.5, "spread_kind": "std", "tolerance": 3,
    "protocol": {"epochs": 20, "backbone": "vit-b16"},
    "source": {"paper": "Someone et al., 2025", "table": "Table 2", "row": "X"}})");
}

// A number with only the required fields.
json bare_number(const std::string& benchmark, const std::string& method, const std::string& metric,
                 double value) {
  return {{"benchmark", benchmark}, {"scenario", "class-il"},
          {"method", method},       {"metric", metric},
          {"value", value},         {"source", {{"paper", "P"}, {"table", "T"}, {"row", method}}}};
}

class PublishedTest : public testing::TempDirTest {
 protected:
  // `numbers` written as a data file; its path.
  std::string write_numbers(const std::vector<json>& numbers,
                            const std::string& name = "published.json") {
    std::ofstream(path(name)) << json{{"numbers", json(numbers)}}.dump(2);
    return path(name);
  }
  std::vector<PublishedNumber> read(const std::vector<json>& numbers) {
    return read_published({write_numbers(numbers)});
  }
};

TEST_F(PublishedTest, ReadsEveryFieldAndDefaultsTheOptionalOnes) {
  json nested = bare_number("b", "er", "aaa", 50);
  nested["protocol"] = {{"er", {{"buffer", 500}}}, {"pretrained_content", "abc"}};
  nested["spread"] = nullptr;
  const auto numbers = read({full_number(), nested});
  ASSERT_EQ(numbers.size(), 2u);
  const PublishedNumber& n = numbers[0];
  EXPECT_EQ(n.benchmark, "b");
  EXPECT_EQ(n.scenario, "class-il");
  EXPECT_EQ(n.method, "method-x");
  EXPECT_EQ(n.label, "x");
  EXPECT_EQ(n.metric, "final_acc");
  EXPECT_EQ(n.value, 60.37);
  ASSERT_TRUE(n.spread.has_value());
  EXPECT_EQ(*n.spread, 1.5);
  EXPECT_EQ(n.spread_kind, "std");
  ASSERT_TRUE(n.tolerance.has_value());
  EXPECT_EQ(*n.tolerance, 3);
  EXPECT_EQ(n.protocol, json({{"epochs", 20}, {"backbone", "vit-b16"}}));
  EXPECT_EQ(n.source.paper, "Someone et al., 2025");
  EXPECT_EQ(n.source.table, "Table 2");
  EXPECT_EQ(n.source.row, "X");
  EXPECT_EQ(n.file, path("published.json"));
  EXPECT_EQ(n.index, 0u);
  const PublishedNumber& m = numbers[1];
  EXPECT_EQ(m.label, "er");  // the method's name
  EXPECT_FALSE(m.spread.has_value());
  EXPECT_EQ(m.spread_kind, "");
  EXPECT_FALSE(m.tolerance.has_value());
  // Nested protocol objects are the config's dotted keys.
  EXPECT_EQ(m.protocol, json({{"er.buffer", 500}, {"pretrained_content", "abc"}}));
  EXPECT_EQ(m.index, 1u);
  // Every statistic of the leaderboard is a metric.
  for (const auto& s : accuracy_statistics()) {
    EXPECT_EQ(read({bare_number("b", "er", s.name, 1)})[0].metric, s.name);
  }
}

// Each broken entry, second in its file, is an Error naming the file, the entry and the key.
TEST_F(PublishedTest, EveryBrokenEntryIsAnErrorNamingFileEntryAndKey) {
  struct Case {
    std::string key;
    std::function<void(json&)> edit;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"colour", [](json& n) { n["colour"] = "red"; }, "unknown key"},
      {"metric", [](json& n) { n["metric"] = "accuracy"; }, "'accuracy' is not one of"},
      {"value", [](json& n) { n["value"] = "60.37"; }, "must be a number"},
      {"value", [](json& n) { n.erase("value"); }, "missing"},
      {"value", [](json& n) { n["value"] = nullptr; }, "missing"},
      {"benchmark", [](json& n) { n["benchmark"] = ""; }, "non-empty string"},
      {"method", [](json& n) { n.erase("method"); }, "missing"},
      {"label", [](json& n) { n["label"] = 3; }, "non-empty string"},
      {"scenario", [](json& n) { n["scenario"] = "online"; },
       "not one of class-il, domain-il, task-il"},
      {"spread", [](json& n) { n["spread"] = -1; }, "must be >= 0"},
      {"spread_kind", [](json& n) { n.erase("spread_kind"); }, "a spread needs its kind"},
      {"spread_kind", [](json& n) { n["spread"] = nullptr; }, "without a spread"},
      {"spread_kind", [](json& n) { n["spread_kind"] = "iqr"; }, "not one of ci95, sem, std"},
      {"tolerance", [](json& n) { n["tolerance"] = -0.5; }, "must be >= 0"},
      {"protocol", [](json& n) { n["protocol"] = json::array({1}); }, "must be a JSON object"},
      {"protocol.epochs", [](json& n) { n["protocol"]["epochs"] = json::array({20}); },
       "string, number or boolean"},
      {"protocol.lr", [](json& n) { n["protocol"]["lr"] = nullptr; }, "string, number or boolean"},
      {"source", [](json& n) { n.erase("source"); }, "missing"},
      {"source", [](json& n) { n["source"] = "Table 2"; }, "must be a JSON object"},
      {"source.row", [](json& n) { n["source"].erase("row"); }, "missing"},
      {"source.paper", [](json& n) { n["source"]["paper"] = ""; }, "non-empty string"},
      {"source.page", [](json& n) { n["source"]["page"] = 7; }, "unknown key"},
      // The first entry again, its protocol's 20 written as 20.0: a duplicate.
      {"protocol",
       [](json& n) {
         n = full_number();
         n["protocol"]["epochs"] = 20.0;
         n["value"] = 61;
       },
       "the same benchmark, scenario, method, label, metric and protocol as entry 0 of"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key + ": " + c.why);
    json broken = full_number();
    broken["metric"] = "aaa";  // not a duplicate of the first unless the case makes it one
    c.edit(broken);
    const std::string file = write_numbers({full_number(), broken});
    expect_error([&] { read_published({file}); },
                 {"published numbers " + file, "entry 1", "key \"" + c.key + "\"", c.why});
  }
}

TEST_F(PublishedTest, ANonFiniteValueIsAnError) {
  for (double bad :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    json number = full_number();
    number["value"] = bad;
    expect_error(
        [&] {
          parse_published(json{{"numbers", json::array({number})}}, "f.json");
        },
        {"f.json", "entry 0", "key \"value\"", "must be finite"});
  }
  // JSON text cannot spell one: 1e400 is refused by the parser, naming the file.
  std::ofstream(path("huge.json")) << R"({"numbers": [{"value": 1e400}]})";
  expect_error([&] { read_published({path("huge.json")}); },
               {"published numbers " + path("huge.json"), "not valid JSON"});
}

TEST_F(PublishedTest, BrokenFilesAreErrors) {
  std::ofstream(path("list.json")) << "[]";
  expect_error([&] { read_published({path("list.json")}); }, {path("list.json"), "JSON object"});
  std::ofstream(path("extra.json")) << R"({"numbers": [], "notes": "x"})";
  expect_error([&] { read_published({path("extra.json")}); },
               {path("extra.json"), "unknown key \"notes\""});
  std::ofstream(path("none.json")) << R"({"numbers": {}})";
  expect_error([&] { read_published({path("none.json")}); },
               {path("none.json"), "key \"numbers\" must be a JSON array"});
  std::ofstream(path("twice.json")) << R"({"numbers": [], "numbers": []})";
  expect_error([&] { read_published({path("twice.json")}); }, {path("twice.json"), "twice"});
  expect_error([&] { read_published({path("absent.json")}); }, {path("absent.json")});
}

TEST_F(PublishedTest, DuplicatesAcrossFilesAreErrorsButOtherProtocolsOrLabelsAreNot) {
  const std::string first = write_numbers({full_number()}, "first.json");
  json other_protocol = full_number();
  other_protocol["protocol"]["epochs"] = 50;
  json other_label = full_number();
  other_label["label"] = "x2";
  json no_protocol = full_number();
  no_protocol.erase("protocol");
  const std::string second =
      write_numbers({other_protocol, other_label, no_protocol}, "second.json");
  EXPECT_EQ(read_published({first, second}).size(), 4u);
  expect_error(
      [&] {
        read_published({first, second, first});
      },
      {"published numbers " + first, "entry 0",
       "as entry 0 of " + first});  // the third file repeats the first
}

// The leaderboard of LeaderboardGatherTest, every run with the configuration
// {"epochs": 20, "backbone": "vit-b16"}, and a labelled variant of method ewc:
//   b: y   final_acc 80, weighted 82     (1 run)
//      x   final_acc 62, weighted 64     (3 runs, std 2)
//      ewc[lambda=100] (method ewc) final_acc 40
//   a: z   final_acc 10
class PublishedJoinTest : public PublishedTest {
 protected:
  void SetUp() override {
    PublishedTest::SetUp();
    const auto run = [](const std::string& benchmark, const std::string& label, int64_t seed,
                        double a, double b) {
      RunResult r = make_run(benchmark, label, seed, a, b, 90, 90);
      r.config_json = R"({"epochs": 20, "backbone": "vit-b16", "er.buffer": 500})";
      return r;
    };
    write_result(path("runs/b/x/0.h5"), run("b", "x", 0, 56, 64));
    write_result(path("runs/b/x/1.h5"), run("b", "x", 1, 58, 66));
    write_result(path("runs/b/x/2.h5"), run("b", "x", 2, 60, 68));
    write_result(path("runs/b/y/0.h5"), run("b", "y", 0, 76, 84));
    RunResult ewc = run("b", "ewc[lambda=100]", 0, 30, 50);
    ewc.method = "ewc";
    write_result(path("runs/b/ewc/0.h5"), ewc);
    write_result(path("runs/a/z/0.h5"), run("a", "z", 0, 10, 10));
    board_ = gather_leaderboard(path("runs"));
    ASSERT_EQ(board_.entries.size(), 4u);
    ASSERT_TRUE(board_.skipped.empty()) << board_.skipped[0].reason;
  }
  // The row of `label`.
  size_t row(const std::string& label) const {
    for (size_t i = 0; i < board_.entries.size(); ++i) {
      if (board_.entries[i].label == label) return i;
    }
    ADD_FAILURE() << "no row " << label;
    return 0;
  }
  PublishedJoin join(const std::vector<json>& numbers) {
    return join_published(board_, read(numbers));
  }

  Leaderboard board_;
};

TEST_F(PublishedJoinTest, AMatchFillsPaperAndDeltaAndTheRestStaysEmptyOrListed) {
  json with_protocol = full_number();  // x, final_acc 60.37 ± 1.5, epochs 20 and vit-b16
  json other_epochs = bare_number("b", "method-x", "aaa", 70);
  other_epochs["label"] = "x";
  other_epochs["protocol"] = {{"epochs", 30}};
  json y = bare_number("b", "method-y", "final_acc_weighted", 81);
  y["label"] = "y";
  y["protocol"] = {{"epochs", 20.0}};  // numbers compare as numbers
  const PublishedJoin j = join({with_protocol, other_epochs, y, bare_number("c", "q", "aaa", 1)});
  ASSERT_EQ(j.cells.size(), 2u);
  const size_t x = row("x");
  EXPECT_EQ(j.cells[0].entry, row("y"));  // by entry: y ranks above x
  EXPECT_EQ(j.cells[0].number, 2u);
  EXPECT_EQ(j.cells[0].delta, 82.0 - 81.0);
  EXPECT_EQ(j.cells[1].entry, x);
  EXPECT_EQ(j.cells[1].number, 0u);
  EXPECT_EQ(j.cells[1].measured, board_.entries[x].final_acc.mean);
  EXPECT_EQ(j.cells[1].delta, board_.entries[x].final_acc.mean - 60.37);
  EXPECT_EQ(j.unmatched, (std::vector<size_t>{1, 3}));

  const std::string md = published_markdown(board_, j);
  EXPECT_NE(
      md.find("| Label | Method | Scenario | Runs | Acc (class-IL) | paper | Δ | Acc weighted "
              "| paper | Δ | AAA | Forgetting | BWT | FWT | Acc (task-IL) | Stored params |"),
      std::string::npos)
      << md;
  EXPECT_NE(md.find("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
                    "---|---|---|\n| y |"),
            std::string::npos)
      << md;  // 18 columns and 4 added
  EXPECT_NE(md.find("| x | method-x | class-il | 3 | 62.00 ± 2.00 | 60.37 ± 1.50 | +1.63 | 64.00 "
                    "± 2.00 |  |  | 72.00 ± 1.00 |"),
            std::string::npos)
      << md;
  EXPECT_NE(
      md.find("| y | method-y | class-il | 1 | 80.00 |  |  | 82.00 | 81.00 | +1.00 | 81.00 |"),
      std::string::npos)
      << md;
  EXPECT_NE(md.find("\nPublished numbers without a matching run:\n"
                    "- b / class-il / x (method-x): aaa 70.00 [epochs=30]; P, T, row method-x\n"
                    "- c / class-il / q: aaa 1.00; P, T, row q\n"),
            std::string::npos)
      << md;

  const json out = published_json(board_, j);
  const json& paper = out["entries"][x]["final_acc"]["paper"];
  EXPECT_EQ(paper["value"], 60.37);
  EXPECT_EQ(paper["spread"], 1.5);
  EXPECT_EQ(paper["spread_kind"], "std");
  EXPECT_EQ(paper["delta"].get<double>(), board_.entries[x].final_acc.mean - 60.37);
  EXPECT_EQ(paper["source"],
            json({{"paper", "Someone et al., 2025"}, {"table", "Table 2"}, {"row", "X"}}));
  EXPECT_EQ(paper["protocol"], json({{"epochs", 20}, {"backbone", "vit-b16"}}));
  EXPECT_FALSE(out["entries"][x]["aaa"].contains("paper"));
  EXPECT_EQ(out["entries"][row("y")]["final_acc_weighted"]["paper"]["spread"], nullptr);
  ASSERT_EQ(out["published_unmatched"].size(), 2u);
  EXPECT_EQ(out["published_unmatched"][1]["benchmark"], "c");
  EXPECT_EQ(out["published_unmatched"][1]["index"], 3);
  // Without the paper's objects and the list, the leaderboard's own JSON.
  json plain = out;
  plain.erase("published_unmatched");
  for (auto& e : plain["entries"]) {
    for (const auto& s : accuracy_statistics()) e[s.name].erase("paper");
  }
  EXPECT_EQ(plain, to_json(board_));
}

TEST_F(PublishedJoinTest, EveryProtocolKeyMustHaveItsValueInTheConfiguration) {
  const auto matches = [&](const json& protocol) {
    json n = bare_number("b", "method-y", "final_acc", 80);
    n["label"] = "y";
    n["protocol"] = protocol;
    return !join({n}).cells.empty();
  };
  EXPECT_TRUE(matches(json::object()));
  EXPECT_TRUE(matches({{"epochs", 20}, {"backbone", "vit-b16"}}));
  EXPECT_TRUE(matches({{"er", {{"buffer", 500.0}}}}));  // nested: the dotted key
  EXPECT_TRUE(matches({{"er.buffer", 500}}));
  EXPECT_FALSE(matches({{"epochs", 20.5}}));
  EXPECT_FALSE(matches({{"epochs", "20"}}));  // a string is not the number
  EXPECT_FALSE(matches({{"backbone", "vit-B16"}}));
  EXPECT_FALSE(matches({{"lr", 0.1}}));  // a key the configuration lacks
  EXPECT_FALSE(matches({{"epochs", 20}, {"backbone", "vit-s16"}}));
}

// A labelled variant matches only a number with its label; the method's own name is not enough.
TEST_F(PublishedJoinTest, ALabelledVariantMatchesOnlyItsLabel) {
  json plain = bare_number("b", "ewc", "final_acc", 40.5);
  json labelled = plain;
  labelled["label"] = "ewc[lambda=100]";
  const PublishedJoin j = join({plain, labelled});
  ASSERT_EQ(j.cells.size(), 1u);
  EXPECT_EQ(j.cells[0].entry, row("ewc[lambda=100]"));
  EXPECT_EQ(j.cells[0].number, 1u);
  EXPECT_EQ(j.cells[0].delta, 40.0 - 40.5);
  EXPECT_EQ(j.unmatched, std::vector<size_t>{0});
}

TEST_F(PublishedJoinTest, TheMostSpecificNumberWinsAndTwoAsSpecificAreAnError) {
  json any = bare_number("b", "method-y", "final_acc", 70);
  any["label"] = "y";
  json vit = any;
  vit["value"] = 79;
  vit["protocol"] = {{"backbone", "vit-b16"}};
  PublishedJoin j = join({any, vit});
  ASSERT_EQ(j.cells.size(), 1u);
  EXPECT_EQ(j.cells[0].number, 1u);
  EXPECT_TRUE(j.unmatched.empty());  // both matched a row
  json twenty = any;
  twenty["protocol"] = {{"epochs", 20}};
  const std::string file = write_numbers({any, vit, twenty});
  expect_error([&] { join_published(board_, read_published({file})); },
               {"entry 1 of " + file, "entry 2 of " + file, "b / class-il / y", "final_acc"});
}

// Tables without a published number are those of the leaderboard, byte for byte.
TEST_F(PublishedJoinTest, TablesWithoutAMatchAreUnchanged) {
  const std::string plain = to_markdown(board_);
  EXPECT_EQ(published_markdown(board_, join({})), plain);
  const PublishedJoin none = join({bare_number("b", "method-x", "aaa", 70)});  // label x: no
  EXPECT_EQ(none.unmatched.size(), 1u);
  const std::string md = published_markdown(board_, none);
  EXPECT_EQ(md.substr(0, plain.size()), plain);
  EXPECT_EQ(md.substr(plain.size()).rfind("\nPublished numbers without a matching run:\n", 0), 0u);
  // Table a has no match when table b has one.
  const std::string with_b = published_markdown(board_, join({full_number()}));
  const auto table_a = [](const std::string& text) { return text.substr(0, text.find("### b")); };
  EXPECT_EQ(table_a(with_b), table_a(plain));
  EXPECT_NE(with_b, plain);
}

// A statistic without a Markdown column of its own gets one where a number matches it.
TEST_F(PublishedJoinTest, AStatisticWithoutAColumnGetsOneBesideItsPaperNumber) {
  json n = bare_number("b", "method-x", "task_il_forgetting", 1.25);
  n["label"] = "x";
  const std::string md = published_markdown(board_, join({n}));
  EXPECT_NE(md.find("| Acc (task-IL) | Forgetting (task-IL) | paper | Δ | Stored params |"),
            std::string::npos)
      << md;
  // Task-IL forgetting of x: 90 - 90 = 0.
  EXPECT_NE(md.find("| 90.00 ± 0.00 | 0.00 ± 0.00 | 1.25 | -1.25 |"), std::string::npos) << md;
}

TEST_F(PublishedJoinTest, CheckPassesWithinTheToleranceAndListsEveryCellOutsideIt) {
  json y = bare_number("b", "method-y", "final_acc_weighted", 81);
  y["label"] = "y";
  json x = full_number();  // delta +1.63, its own tolerance 3
  const PublishedJoin j = join({x, y});
  PublishedCheck check = check_published(board_, j, 1.0);
  EXPECT_EQ(check.matched, 2u);
  EXPECT_TRUE(check.over.empty());
  EXPECT_EQ(check.exit_code(), 0);
  EXPECT_EQ(check.report, "all 2 matched numbers within 1 points\n");

  check = check_published(board_, j, 0.5);  // y's delta 1 is over it; x keeps its own 3
  EXPECT_EQ(check.exit_code(), 3);
  ASSERT_EQ(check.over.size(), 1u);
  EXPECT_EQ(check.over[0].entry, row("y"));
  EXPECT_NE(check.report.find("1 of 2 matched numbers differ from the paper by more than 0.5 "
                              "points:\n- b / class-il / y (method-y) [" +
                              board_.entries[row("y")].fingerprint.substr(0, 8) +
                              "] final_acc_weighted: measured 82.00, paper 81.00, Δ +1.00 "
                              "(tolerance 0.5); P, T, row method-y\n"),
            std::string::npos)
      << check.report;

  x["tolerance"] = 1;
  const PublishedJoin strict = join({x, y});
  check = check_published(board_, strict, 0);
  EXPECT_EQ(check.over.size(), 2u);
  EXPECT_NE(check.report.find("Δ +1.63 (tolerance 1); Someone et al., 2025, Table 2, row X"),
            std::string::npos)
      << check.report;
  EXPECT_EQ(check_published(board_, join({}), 0).report, "all 0 matched numbers within 0 points\n");
}

TEST_F(PublishedJoinTest, ToleranceMustBeFiniteAndNotNegative) {
  const PublishedJoin j = join({full_number()});
  for (double bad :
       {-0.1, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    expect_error([&] { check_published(board_, j, bad); }, {"--check", "finite", ">= 0"});
  }
}

}  // namespace published_testing
}  // namespace clbench
