// Whole runs: determinism, the result file, and what a user sees on bad input (through the binary).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <utility>

#include <gtest/gtest.h>

#include "harness/engine/progress.h"
#include "harness/foundation/registry.h"
#include "methods/method.h"
#include "results/fingerprint.h"
#include "results/leaderboard.h"
#include "results/result_file.h"
#include "support.h"
#include "tests/common/accuracy_bits.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

using testing::run_quiet;

namespace fs = std::filesystem;
using testing::run_command;

using testing::TempDir;

using testing::clbench_cmd;

TEST(Run, SameSeedGivesIdenticalNumbersAndAnotherSeedDoesNot) {
  for (const char* method : {"er", "ewc", "si", "lwf"}) {
    const nlohmann::json cfg = {{"benchmark", "synthetic"}, {"method", method}};
    const auto a = run_quiet(cfg);
    const auto b = run_quiet(cfg);
    EXPECT_EQ(testing::bits(a.acc_class_il), testing::bits(b.acc_class_il)) << method;
    EXPECT_EQ(testing::bits(a.acc_task_il), testing::bits(b.acc_task_il)) << method;
    EXPECT_EQ(a.init_task_il, b.init_task_il) << method;
  }
  auto other = nlohmann::json{
      {"benchmark", "synthetic"}, {"method", "finetune"}, {"synthetic", {{"noise", 0.8}}}};
  const auto a = run_quiet(other);
  other["seed"] = 1;
  const auto b = run_quiet(other);
  EXPECT_NE(a.init_task_il, b.init_task_il);
}

TEST(Run, RecordsTheStreamAndTheResolvedConfig) {
  const auto r = run_quiet({{"benchmark", "synthetic"},
                            {"method", "er"},
                            {"class_order_seed", 1993},
                            {"er", {{"buffer", 20}}}});
  ASSERT_EQ(r.task_classes.size(), 5u);
  EXPECT_EQ(r.task_classes[0], (std::vector<int64_t>{4, 2}));  // numpy seed 1993, C = 10
  EXPECT_EQ(r.class_order_algorithm, "pycil");
  EXPECT_EQ(r.train_counts, std::vector<int64_t>(5, 600));
  EXPECT_EQ(r.test_counts, std::vector<int64_t>(5, 80));
  const auto cfg = nlohmann::json::parse(r.config_json);
  EXPECT_EQ(cfg["er.buffer"], 20);
  EXPECT_EQ(cfg["epochs"], 2);                              // the benchmark's default
  EXPECT_EQ(r.init_class_il, std::vector<double>(5, 0.0));  // nothing seen yet
  // Class-IL can never predict a class that is not yet seen; after task i only the next task is
  // evaluated among the later ones (FWT's R[i][i+1]), the others are NaN.
  for (size_t i = 0; i < 5; ++i) {
    if (i + 1 < 5) {
      EXPECT_EQ(r.acc_class_il[i][i + 1], 0.0);
    }
    for (size_t j = i + 2; j < 5; ++j) {
      EXPECT_TRUE(std::isnan(r.acc_class_il[i][j])) << i << ", " << j;
      EXPECT_TRUE(std::isnan(r.acc_task_il[i][j])) << i << ", " << j;
    }
  }
  EXPECT_EQ(cfg["eval_future"], "next");
  EXPECT_EQ(r.trainable_params.size(), 5u);
  EXPECT_EQ(r.trainable_params[0], r.total_params);
}

// eval_future=all measures the whole matrix; every entry the default measures is the same, and so
// is every metric (no metric reads R[i][j] for j > i + 1).
TEST(Run, EvaluatingEveryFutureTaskChangesNoMeasuredEntryAndNoMetric) {
  const nlohmann::json cfg = {{"benchmark", "synthetic"}, {"method", "lwf"}, {"epochs", 1}};
  auto everything = cfg;
  everything["eval_future"] = "all";
  const auto next = run_quiet(cfg);
  const auto all = run_quiet(everything);
  int absent = 0;
  for (const auto& [measured, whole] :
       {std::pair{&next.acc_class_il, &all.acc_class_il}, {&next.acc_task_il, &all.acc_task_il}}) {
    for (size_t i = 0; i < 5; ++i) {
      for (size_t j = 0; j < 5; ++j) {
        const double x = (*measured)[i][j], y = (*whole)[i][j];
        ASSERT_FALSE(std::isnan(y)) << i << ", " << j;
        if (j > i + 1) {
          absent += std::isnan(x) ? 1 : 0;
        } else {
          EXPECT_EQ(x, y) << i << ", " << j;
        }
      }
    }
  }
  EXPECT_EQ(absent, 2 * 6) << "(T-1)(T-2)/2 = 6 entries per matrix not evaluated";
  for (const auto& [a, b] : {std::pair{next.class_il, all.class_il}, {next.task_il, all.task_il}}) {
    EXPECT_EQ(a.final_acc, b.final_acc);
    EXPECT_EQ(a.aaa, b.aaa);
    EXPECT_EQ(a.forgetting, b.forgetting);
    EXPECT_EQ(a.bwt, b.bwt);
    EXPECT_EQ(a.fwt, b.fwt);
  }
  EXPECT_EQ(result_fingerprint(nlohmann::json::parse(next.config_json)),
            result_fingerprint(nlohmann::json::parse(all.config_json)))
      << "one setting: a leaderboard averages both";
}

TEST(Run, Tf32IsOffUnlessAskedFor) {
  testing::setup({{"benchmark", "synthetic"}, {"method", "finetune"}, {"precision", "tf32"}});
  EXPECT_TRUE(at::globalContext().allowTF32CuBLAS());
  for (const std::string other : {"fp32", "bf16", "fp16"}) {
    testing::setup({{"benchmark", "synthetic"}, {"method", "finetune"}, {"precision", other}});
    EXPECT_FALSE(at::globalContext().allowTF32CuBLAS()) << other;
  }
}

TEST(Run, SplitFashionMnistHasFiveTasksOfTwoClasses) {
  auto p = testing::plan({{"benchmark", "split-fmnist"}, {"class_order_seed", 1993}});
  const auto stream = find_benchmark("split-fmnist").make(p.config);
  ASSERT_EQ(stream.num_tasks(), 5);
  EXPECT_EQ(stream.tasks[0].classes, (std::vector<int64_t>{4, 2}));
  for (const auto& t : stream.tasks) {
    EXPECT_EQ(t.train.size(), 12000u);
    EXPECT_EQ(t.test.size(), 2000u);
  }
  EXPECT_TRUE(testing::train_samples_in_their_tasks(stream));
  EXPECT_EQ(stream.input_shape(), (std::vector<int64_t>{1, 28, 28}));
}

TEST(Cli, RunWritesACompleteResultFileAndTheLeaderboardReadsIt) {
  TempDir dir;
  std::string out;
  ASSERT_EQ(
      run_command(clbench_cmd("run -b synthetic -m er --name er-20 --set er.buffer=20 --seed 3 "
                              "--out " +
                              dir.root()),
                  out),
      0)
      << out;
  const auto path = dir / "synthetic/er-20/seed-3.h5";
  const auto r = read_result(path.string());
  EXPECT_EQ(r.status, "complete");
  EXPECT_EQ(r.label, "er-20");
  EXPECT_EQ(r.method, "er");
  EXPECT_EQ(r.seed, 3);
  ASSERT_EQ(
      run_command(
          clbench_cmd("leaderboard " + dir.root() + " --json " + (dir / "lb.json").string()), out),
      0)
      << out;
  EXPECT_NE(out.find("er-20"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir / "lb.json"));
}

// PyCIL-style uneven splits from the command line, through to the leaderboard.
TEST(Cli, UnevenTaskSplitsCompleteWithResultFilesAndLeaderboardRows) {
  TempDir dir;
  std::string out;
  ASSERT_EQ(run_command(
                clbench_cmd("run -b synthetic -m er --set init_classes=4 --set increment=3 --out " +
                            dir.root()),
                out),
            0)
      << out;
  ASSERT_EQ(
      run_command(
          clbench_cmd("run -b split-fmnist -m er --epochs 1 --set increment=3 --out " + dir.root()),
          out),
      0)
      << out;
  auto sizes = [](const RunResult& r) {
    std::vector<size_t> n;
    for (const auto& t : r.task_classes) n.push_back(t.size());
    return n;
  };
  EXPECT_EQ(sizes(read_result((dir / "synthetic/er/seed-0.h5").string())),
            (std::vector<size_t>{4, 3, 3}));
  EXPECT_EQ(sizes(read_result((dir / "split-fmnist/er/seed-0.h5").string())),
            (std::vector<size_t>{3, 3, 3, 1}));
  ASSERT_EQ(run_command(clbench_cmd("leaderboard " + dir.root()), out), 0) << out;
  EXPECT_NE(out.find("### synthetic"), std::string::npos) << out;
  EXPECT_NE(out.find("### split-fmnist"), std::string::npos) << out;
  EXPECT_EQ(out.find("Skipped files"), std::string::npos) << out;
}

struct BadInput {
  std::string args, expected;
};

TEST(Cli, BadInputGetsAClearErrorAndANonZeroExitCode) {
  TempDir dir;
  fs::create_directories(dir / "file-not-dir");
  { std::ofstream(dir / "blocker") << "x"; }
  { std::ofstream(dir / "twice.json") << R"({"lr": 0.1, "epochs": 1, "lr": 0.2})"; }
  { std::ofstream(dir / "huge.json") << R"({"lr": 1e400})"; }
  {
    std::ofstream(dir / "typo.json")
        << R"({"benchmarks": ["synthetic"], "methods": ["er"], "seeds": [0], "nmae": 1})";
  }
  {
    std::ofstream(dir / "axis.json")
        << R"({"benchmarks": ["synthetic"], "methods": [{"method": "er", "set": {"seed": 3}}], "seeds": [0]})";
  }
  {
    std::ofstream(dir / "scenarios.json")
        << R"({"benchmarks": ["synthetic"], "methods": ["er"], "seeds": [0], "scenarios": ["class-il"]})";
  }
  // The registry's names in its (sorted) order, as the command line holds them: the test binary
  // also holds the README's example method, built from README.md (CMakeLists.txt).
  std::string every_method;
  for (const auto& m : methods()) {
    if (Registry<MethodEntry>::file_of(m.name).find("readme_example") != std::string::npos)
      continue;
    every_method += (every_method.empty() ? "" : ", ") + m.name;
  }
  const std::vector<BadInput> cases = {
      {"run -b synthetic -m nosuch", "unknown method 'nosuch'; valid: " + every_method},
      {"run -b nosuch", "unknown benchmark 'nosuch'; valid:"},
      {"run -b split-fmnist --data-root " + dir.root() + " --out " + dir.root(),
       "missing data file: " + (dir / "train-images-idx3-ubyte.gz").string()},
      {"run -b split-fmnist --data-root " + dir.root() + " --out " + dir.root(),
       "dataset-fashion-mnist"},
      {"run -b synthetic -m ewc --set ewc.lamda=5", "unknown config key 'ewc.lamda'"},
      {"run -b synthetic -m ewc --set ewc.lamda=5", "ewc.lambda"},
      {"run -b synthetic -m er --set er.buffer=lots", "bad value \"lots\" for key 'er.buffer'"},
      {"run -b synthetic --epochs 0", "for key 'epochs': must be in 1..100000"},
      {"run -b synthetic --scenario online", "valid values: class-il, task-il, domain-il"},
      {"run -b synthetic --scenario domain-il",
       "scenario domain-il needs a benchmark whose tasks share their classes"},
      {"run -b synthetic --set nokey", "--set expects key=value"},
      {"run -b synthetic --out " + (dir / "blocker").string(), (dir / "blocker").string()},
      {"run -b synthetic --config " + (dir / "missing.json").string(), "missing.json"},
      {"leaderboard " + (dir / "nowhere").string(), (dir / "nowhere").string()},
      {"run", "clbench run needs what to run"},
      {"run -b synthetic --config " + dir.root(), "not a file"},
      {"run -b synthetic --config " + (dir / "twice.json").string(), "has the key \"lr\" twice"},
      {"run -b synthetic --config " + (dir / "huge.json").string(), "is not valid JSON"},
      {"run -b synthetic -m sd-lora --backbone vit-tiny28", "learns on a frozen backbone"},
      {"run -b synthetic -m icarl --set icarl.memory=0 --out " + dir.root(),
       "bad value 0 for key 'icarl.memory': fewer than the 10 classes"},
      {"run -b synthetic -m der --set der.buffer=1000000000 --out " + dir.root(),
       "bad value 1000000000 for key 'der.buffer': more than the 3000 training samples"},
      {"suite " + (dir / "typo.json").string(), "unknown key 'nmae'"},
      {"suite " + (dir / "axis.json").string(), "sets 'seed', which the suite's 'seeds' list"},
      {"suite " + (dir / "scenarios.json").string() + " --set scenario=task-il",
       "--set sets 'scenario'"},
      {"show " + (dir / "blocker").string(), (dir / "blocker").string()},
  };
  for (const auto& c : cases) {
    std::string out;
    const int code = run_command(clbench_cmd(c.args), out);
    EXPECT_EQ(code, 1) << c.args << "\n" << out;
    EXPECT_NE(out.find(c.expected), std::string::npos) << c.args << "\n" << out;
    EXPECT_EQ(out.find("terminate called"), std::string::npos) << out;
  }
  // A flag's value that the command line cannot convert: its range in plain digits.
  std::string out;
  EXPECT_NE(run_command(clbench_cmd("suite none.json --index abc"), out), 0) << out;
  EXPECT_NE(out.find("--index: Value abc not in range 0 to 1099511627776"), std::string::npos)
      << out;
}

TEST(Cli, ListShowsEveryMethodAndBenchmark) {
  std::string out;
  ASSERT_EQ(run_command(clbench_cmd("list"), out), 0);
  for (const char* name :
       {"finetune", "joint", "ewc", "si", "lwf", "er", "split-fmnist", "synthetic"}) {
    EXPECT_NE(out.find(name), std::string::npos) << name;
  }
}

TEST(Cli, ListKeysShowsWhatEachKeyAccepts) {
  std::string out;
  ASSERT_EQ(run_command(clbench_cmd("list --keys"), out), 0);
  EXPECT_NE(out.find("online EWC decay of the running Fisher [in 0..1]"), std::string::npos) << out;
  EXPECT_NE(out.find("[one of factors, product, none]"), std::string::npos) << out;
}

TEST(Cli, ShowSchemaPrintsTheResultFileLayout) {
  std::string out;
  ASSERT_EQ(run_command(clbench_cmd("show --schema"), out), 0) << out;
  EXPECT_EQ(out, result_schema_table());
  EXPECT_EQ(run_command(clbench_cmd("show"), out), 1);
  EXPECT_NE(out.find("result files or --schema"), std::string::npos) << out;
}

}  // namespace
}  // namespace clbench
