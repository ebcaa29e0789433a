#include "harness/foundation/config.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "harness/foundation/error.h"
#include "harness/foundation/options.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

using nlohmann::json;
using testing::TempDir;
using testing::write_text;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected clbench::Error";
  return "";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::vector<OptionSpec> specs() {
  return {
      {"epochs", 5, "epochs per task"},
      {"lr", 0.01, "learning rate"},
      {"amp", false, "mixed precision"},
      {"optimizer", "sgd", "optimizer", {"sgd", "adam", "adamw"}},
      {"name", "run", "free-form name"},
      {"ewc.lambda", 100.0, "EWC penalty weight"},
      {"ewc.samples", 200, "Fisher samples"},
  };
}

TEST(Config, FlattenNestedObjects) {
  const json nested = {{"epochs", 3},
                       {"ewc", {{"lambda", 1.5}, {"fisher", {{"samples", 10}, {"mode", "emp"}}}}},
                       {"list", {1, 2}}};
  const json flat = Config::flatten(nested);
  const json expected = {{"epochs", 3},
                         {"ewc.lambda", 1.5},
                         {"ewc.fisher.samples", 10},
                         {"ewc.fisher.mode", "emp"},
                         {"list", {1, 2}}};
  EXPECT_EQ(flat, expected);
  EXPECT_EQ(Config::flatten(json::object()), json::object());
}

TEST(Config, ReadFileFlattens) {
  TempDir tmp;
  const std::string path = tmp.path("run.json");
  write_text(path, R"({"epochs": 7, "ewc": {"lambda": 2.5}, "optimizer": "adam"})");
  const json flat = Config::read_file(path);
  EXPECT_EQ(flat, (json{{"epochs", 7}, {"ewc.lambda", 2.5}, {"optimizer", "adam"}}));
}

TEST(Config, ReadFileInvalidJsonNamesFile) {
  TempDir tmp;
  const std::string path = tmp.path("broken.json");
  write_text(path, R"({"epochs": 7,, })");
  const std::string msg = error_of([&] { Config::read_file(path); });
  EXPECT_TRUE(contains(msg, path)) << msg;
  EXPECT_TRUE(contains(msg, "JSON")) << msg;
}

TEST(Config, ReadFileNonObjectAndMissingFileNameFile) {
  TempDir tmp;
  const std::string array = tmp.path("array.json");
  write_text(array, "[1, 2]");
  std::string msg = error_of([&] { Config::read_file(array); });
  EXPECT_TRUE(contains(msg, array)) << msg;
  const std::string missing = array + ".missing";
  msg = error_of([&] { Config::read_file(missing); });
  EXPECT_TRUE(contains(msg, missing)) << msg;
}

TEST(Config, ParseAssignmentTypes) {
  auto [k1, v1] = Config::parse_assignment("a=5");
  EXPECT_EQ(k1, "a");
  EXPECT_TRUE(v1.is_number_integer());
  EXPECT_EQ(v1.get<int64_t>(), 5);

  auto [k2, v2] = Config::parse_assignment("ewc.lambda=1e-3");
  EXPECT_EQ(k2, "ewc.lambda");
  EXPECT_TRUE(v2.is_number_float());
  EXPECT_DOUBLE_EQ(v2.get<double>(), 1e-3);

  auto [k3, v3] = Config::parse_assignment("a=true");
  EXPECT_EQ(k3, "a");
  EXPECT_TRUE(v3.is_boolean());
  EXPECT_TRUE(v3.get<bool>());

  auto [k4, v4] = Config::parse_assignment("a=hello");
  EXPECT_EQ(k4, "a");
  EXPECT_EQ(v4, json("hello"));

  auto [k5, v5] = Config::parse_assignment("a=\"5\"");
  EXPECT_EQ(k5, "a");
  EXPECT_EQ(v5, json("5"));

  // Only the first '=' splits.
  auto [k6, v6] = Config::parse_assignment("name=x=y");
  EXPECT_EQ(k6, "name");
  EXPECT_EQ(v6, json("x=y"));
}

TEST(Config, ParseAssignmentNeedsKeyAndEquals) {
  const std::string msg = error_of([] { Config::parse_assignment("epochs5"); });
  EXPECT_TRUE(contains(msg, "epochs5")) << msg;
  EXPECT_THROW(Config::parse_assignment("=5"), Error);
}

TEST(Config, ResolveAppliesDefaults) {
  const Config cfg = Config::resolve(specs(), json::object(), "method ewc");
  EXPECT_EQ(cfg.integer("epochs"), 5);
  EXPECT_DOUBLE_EQ(cfg.num("lr"), 0.01);
  EXPECT_FALSE(cfg.flag("amp"));
  EXPECT_EQ(cfg.str("optimizer"), "sgd");
  EXPECT_DOUBLE_EQ(cfg.num("ewc.lambda"), 100.0);
  EXPECT_EQ(cfg.integer("ewc.samples"), 200);
  EXPECT_TRUE(cfg.has("name"));
  EXPECT_FALSE(cfg.has("nope"));
  EXPECT_THROW(cfg.at("nope"), Error);
}

TEST(Config, ResolveUserValuesOverride) {
  const json user = {{"epochs", 9},          {"lr", 0.5},       {"amp", true},
                     {"optimizer", "adamw"}, {"ewc.lambda", 3}, {"ewc.samples", 17}};
  const Config cfg = Config::resolve(specs(), user, "method ewc");
  EXPECT_EQ(cfg.integer("epochs"), 9);
  EXPECT_DOUBLE_EQ(cfg.num("lr"), 0.5);
  EXPECT_TRUE(cfg.flag("amp"));
  EXPECT_EQ(cfg.str("optimizer"), "adamw");
  // An integer for a number key is accepted and stored as a number.
  EXPECT_DOUBLE_EQ(cfg.num("ewc.lambda"), 3.0);
  EXPECT_EQ(cfg.integer("ewc.samples"), 17);
  EXPECT_EQ(cfg.str("name"), "run");  // untouched default
}

TEST(Config, UnknownKeyListsScopeKeys) {
  const std::string msg = error_of([] {
    Config::resolve(specs(), json{{"ewc.lamda", 1.0}}, "method ewc");
  });
  EXPECT_TRUE(contains(msg, "ewc.lamda")) << msg;
  EXPECT_TRUE(contains(msg, "method ewc")) << msg;
  EXPECT_TRUE(contains(msg, "ewc.lambda")) << msg;
  EXPECT_TRUE(contains(msg, "ewc.samples")) << msg;
}

TEST(Config, WrongTypeNamesKeyAndValue) {
  std::string msg = error_of([] {
    Config::resolve(specs(), json{{"ewc.lambda", "abc"}}, "method ewc");
  });
  EXPECT_TRUE(contains(msg, "ewc.lambda")) << msg;
  EXPECT_TRUE(contains(msg, "abc")) << msg;

  msg = error_of([] { Config::resolve(specs(), json{{"name", 5}}, "method ewc"); });
  EXPECT_TRUE(contains(msg, "name")) << msg;
  EXPECT_TRUE(contains(msg, "5")) << msg;

  EXPECT_THROW(Config::resolve(specs(), json{{"epochs", "3"}}, "s"), Error);
  EXPECT_THROW(Config::resolve(specs(), json{{"lr", true}}, "s"), Error);
}

TEST(Config, IntegerKeyAcceptsIntegralFloatOnly) {
  const Config cfg = Config::resolve(specs(), json{{"epochs", 3.0}}, "s");
  EXPECT_TRUE(cfg.at("epochs").is_number_integer());
  EXPECT_EQ(cfg.integer("epochs"), 3);

  const std::string msg = error_of([] { Config::resolve(specs(), json{{"epochs", 3.5}}, "s"); });
  EXPECT_TRUE(contains(msg, "epochs")) << msg;
  EXPECT_TRUE(contains(msg, "3.5")) << msg;
}

TEST(Config, ChoicesEnforced) {
  const std::string msg = error_of([] {
    Config::resolve(specs(), json{{"optimizer", "rmsprop"}}, "s");
  });
  EXPECT_TRUE(contains(msg, "optimizer")) << msg;
  EXPECT_TRUE(contains(msg, "rmsprop")) << msg;
  EXPECT_TRUE(contains(msg, "sgd")) << msg;
  EXPECT_TRUE(contains(msg, "adam")) << msg;
  EXPECT_TRUE(contains(msg, "adamw")) << msg;
  EXPECT_EQ(Config::resolve(specs(), json{{"optimizer", "adam"}}, "s").str("optimizer"), "adam");
}

TEST(Config, BoolKeyRejectsNonBool) {
  std::string msg = error_of([] { Config::resolve(specs(), json{{"amp", "yes"}}, "s"); });
  EXPECT_TRUE(contains(msg, "amp")) << msg;
  EXPECT_TRUE(contains(msg, "yes")) << msg;
  EXPECT_THROW(Config::resolve(specs(), json{{"amp", 1}}, "s"), Error);
}

TEST(Config, SetAssignmentRoundTripsThroughResolve) {
  auto [key, value] = Config::parse_assignment("ewc.samples=64");
  const Config cfg = Config::resolve(specs(), json{{key, value}}, "method ewc");
  EXPECT_EQ(cfg.integer("ewc.samples"), 64);
}

// List keys: a comma string or a JSON array, each element checked, kept as the comma string.
TEST(Config, ListKeysAreCheckedElementByElementAndKeptAsCommaText) {
  std::vector<OptionSpec> specs = {
      {"m.parts", "q,v", "", {}, {}, words({"q", "k", "v"}).distinct().at_least(1)},
      {"m.milestones", "", "", {}, {1, 1e6}, integers().increasing()},
      {"m.schedule", "4:8", "", {}, {1, 4096}, integer_pairs().increasing()},
      {"m.weights", "", "", {}, {}, numbers()}};
  const auto cfg = Config::resolve(specs,
                                   {{"m.parts", nlohmann::json::array({"k", "v"})},
                                    {"m.milestones", "30,60"},
                                    {"m.schedule", nlohmann::json::array({{2, 8}, {5, 6}})},
                                    {"m.weights", "0.5,-1e-3"}},
                                   "m");
  EXPECT_EQ(cfg.str("m.parts"), "k,v");
  EXPECT_EQ(cfg.str("m.milestones"), "30,60");
  EXPECT_EQ(cfg.str("m.schedule"), "2:8,5:6");
  EXPECT_EQ(list_elements(specs[3].list, {}, cfg.at("m.weights")).get<std::vector<double>>(),
            (std::vector<double>{0.5, -1e-3}));
  const auto refused = [&](const std::string& key, const nlohmann::json& value) {
    try {
      Config::resolve(specs, {{key, value}}, "m");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(refused("m.parts", "q,x"),
            "bad value \"q,x\" for key 'm.parts': 'x' is not one of q, k, v");
  EXPECT_NE(refused("m.parts", "q,q").find("'q' is there twice"), std::string::npos);
  EXPECT_NE(refused("m.parts", "").find("needs at least 1 element"), std::string::npos);
  EXPECT_NE(refused("m.milestones", "30,x").find("'x' is not an integer"), std::string::npos);
  EXPECT_NE(refused("m.milestones", "3.5").find("'3.5' is not an integer"), std::string::npos);
  EXPECT_NE(refused("m.milestones", "0").find("'0' is not in 1..1e+06"), std::string::npos);
  EXPECT_NE(refused("m.milestones", "60,30").find("'30' does not increase after '60'"),
            std::string::npos);
  EXPECT_NE(refused("m.schedule", "4:x").find("'x' is not an integer"), std::string::npos);
  EXPECT_NE(refused("m.schedule", "4").find("'4' is not a pair a:b"), std::string::npos);
  EXPECT_NE(refused("m.schedule", "4:8,3:6").find("'3:6' does not increase after '4:8'"),
            std::string::npos);
  EXPECT_NE(refused("m.weights", "1,nan").find("'nan' is not a number"), std::string::npos);
  EXPECT_NE(refused("m.weights", true).find("expected a comma list"), std::string::npos);
  EXPECT_EQ(Config::resolve(specs, {{"m.milestones", 30}}, "m").str("m.milestones"), "30");
}

TEST(Config, ARangeAboveItsMinimumExcludesIt) {
  const std::vector<OptionSpec> specs = {{"lr", 0.01, "", {}, {0, 1e6, true}}};
  EXPECT_THROW(Config::resolve(specs, {{"lr", 0}}, "run"), Error);
  EXPECT_EQ(Config::resolve(specs, {{"lr", 1e-9}}, "run").num("lr"), 1e-9);
  EXPECT_EQ(describe_range({0, 1e6, true}), "> 0 and <= 1e+06");
}

}  // namespace
}  // namespace clbench
