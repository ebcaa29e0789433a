// Bad input is refused before any training, with an error naming the key, file or value: numbers
// out of their declared range, deep config files, unsafe labels and paths, folders that cannot
// be written, tasks without data.
#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "harness/run/suite.h"
#include "results/published.h"
#include "support.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;
using testing::run_command;
using testing::TempDir;

struct Refusal {
  std::string args, expected;
};

void expect_refused_before_training(const std::vector<Refusal>& cases) {
  for (const auto& c : cases) {
    std::string out;
    const int code = run_command(testing::clbench_cmd(c.args), out);
    EXPECT_NE(code, 0) << c.args << "\n" << out;
    EXPECT_LT(code, 128) << "a crash: " << c.args << "\n" << out;
    EXPECT_NE(out.find(c.expected), std::string::npos) << c.args << "\n" << out;
    EXPECT_EQ(out.find("task 1/"), std::string::npos) << "trained before refusing: " << c.args;
  }
}

TEST(Validation, NumbersOutsideTheirDeclaredRangeAreRefused) {
  TempDir dir;
  const std::string run = "run -b synthetic --out " + dir.root() + " ";
  expect_refused_before_training({
      {run + "--threads 100000", "bad value 100000 for key 'threads': must be in 0.."},
      {run + "--set loader_threads=-1", "for key 'loader_threads': must be in 0.."},
      {run + "--epochs 1e12", "for key 'epochs': must be in 1..100000"},
      {run + "--seed -3", "for key 'seed': must be in 0.."},
      {run + "--set grad_shards=-2", "for key 'grad_shards'"},
      {run + "--lr 0", "for key 'lr': must be > 0"},
      {run + "--set lr_milestones=30,x", "for key 'lr_milestones': 'x' is not an integer"},
      {run + "--set lr_milestones=60,30", "for key 'lr_milestones': '30' does not increase"},
      {run + "-m er --set er.buffer=-5", "for key 'er.buffer': must be in 0.."},
      {run + "-m ewc --set ewc.gamma=2", "for key 'ewc.gamma': must be in 0..1"},
      {run + "--set synthetic.test_per_class=0", "for key 'synthetic.test_per_class'"},
      {run + "--checkpoint-every -1", "--checkpoint-every"},
      {"suite launch/suites/quick.json --index -5", "--index"},
      {"prepare cifar100-10 --data-root " + dir.root() + " --out x.h5 --store-size -1",
       "--store-size"},
      {"pretrain --out " + (dir / "w.safetensors").string() + " --threads 100000", "--threads"},
  });
}

// List keys are checked element by element when the run or the suite is planned, before any data
// or weights are read (split-fmnist with a data root that does not exist: the list fails first),
// under the key the user wrote, also where a variant inherits the key from its base method.
TEST(Validation, BadListValuesAreRefusedUnderTheirKeyBeforeDataIsRead) {
  TempDir dir;
  const std::string run = "run -b split-fmnist --data-root " + (dir / "absent").string() +
                          " --backbone vit-tiny28 --pretrained none --out " + dir.root() + " ";
  expect_refused_before_training({
      {run + "-m sd-lora-rr --set sd-lora-rr.rank_schedule=4:x",
       "for key 'sd-lora-rr.rank_schedule': 'x' is not an integer"},
      {run + "-m sd-lora-rr --set sd-lora-rr.rank_schedule=4:8,3:6",
       "for key 'sd-lora-rr.rank_schedule': '3:6' does not increase after '4:8'"},
      {run + "-m sd-lora-rr --set sd-lora-rr.parts=q,x",
       "for key 'sd-lora-rr.parts': 'x' is not one of q, k, v"},
      {run + "-m seq-lora --set seq-lora.parts=v,v",
       "for key 'seq-lora.parts': 'v' is there twice"},
      {run + "-m fm-lora --set fm-lora.ranks=2,12", "for key 'fm-lora.ranks': 12 is above"},
      {run + "-m fm-lora --set fm-lora.rank_weights=1,2",
       "for key 'fm-lora.rank_weights': it needs one number per rank"},
  });
  const std::string suite = (dir / "suite.json").string();
  std::ofstream(suite)
      << R"({"benchmarks": ["split-fmnist"], "methods": ["sd-lora-rr"], "seeds": [0],
    "defaults": {"backbone": "vit-tiny28", "pretrained": "none", "data_root": "absent"}})";
  std::string out;
  EXPECT_EQ(run_command(testing::clbench_cmd("suite " + suite + " --count --set " +
                                             "sd-lora-rr.rank_schedule=4:x"),
                        out),
            1)
      << out;
  EXPECT_NE(out.find("for key 'sd-lora-rr.rank_schedule'"), std::string::npos) << out;
}

TEST(Validation, ASuiteIndexOutOfRangeIsRefused) {
  std::string out;
  EXPECT_EQ(run_command(testing::clbench_cmd("suite " + std::string(CLBENCH_SOURCE_DIR) +
                                             "/launch/suites/quick.json --index 99"),
                        out),
            1)
      << out;
  EXPECT_NE(out.find("--index 99 is out of range (0..3)"), std::string::npos) << out;
}

// The suites shipped in launch/suites (and launch/suites/paper) name real benchmarks, methods,
// backbones and keys, and plan without clashing result files (what --count and --dry-run check
// before any data is read, and before the pretrained weights the demo scripts make first exist: a
// Slurm array is sized first). Every paper suite names the table it regenerates and every method
// entry the config file its settings come from.
TEST(Validation, EveryShippedSuitePlans) {
  int suites = 0, paper = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(
           std::string(CLBENCH_SOURCE_DIR) + "/launch/suites")) {
    if (entry.path().extension() != ".json" || entry.path().filename() == "published.json") {
      continue;
    }
    ++suites;
    std::string out;
    EXPECT_EQ(
        run_command(testing::clbench_cmd("suite " + entry.path().string() + " --dry-run --out " +
                                         ::testing::TempDir() + "no-weights"),
                    out),
        0)
        << entry.path() << ": " << out;
    if (entry.path().parent_path().filename() != "paper") continue;
    ++paper;
    const auto suite = nlohmann::json::parse(std::ifstream(entry.path()));
    EXPECT_TRUE(suite.contains("source")) << entry.path() << ": the table it regenerates";
    for (const auto& m : suite["methods"]) {
      EXPECT_TRUE(m.is_object() && m.contains("source"))
          << entry.path() << ": " << m.dump() << " names no source config";
    }
  }
  EXPECT_GE(suites, 19);
  EXPECT_GE(paper, 11);
}

// The shipped published numbers parse, and name registered benchmarks and methods, and a label
// some paper suite entry runs on that benchmark in that scenario (else no run could ever join it),
// apart from the rows the suites cannot run, which the suites' README lists.
TEST(Validation, ShippedPublishedNumbersJoinThePaperSuites) {
  const std::string folder = std::string(CLBENCH_SOURCE_DIR) + "/launch/suites/paper";
  const auto numbers = read_published({folder + "/published.json"});
  ASSERT_GE(numbers.size(), 100u);
  std::set<std::tuple<std::string, std::string, std::string>> runs;  // benchmark, label, scenario
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().extension() != ".json" || entry.path().filename() == "published.json") {
      continue;
    }
    for (const auto& run : expand_suite_runs(entry.path().string(), nlohmann::json::object())) {
      const auto plan = plan_run(run.user, false);
      runs.insert({plan.benchmark, plan.label, plan.config.str("scenario")});
    }
  }
  size_t unmatched = 0;
  for (const auto& n : numbers) {
    EXPECT_NO_THROW(find_benchmark(n.benchmark)) << n.file;
    EXPECT_NO_THROW(find_method(n.method)) << n.file;
    unmatched += runs.count({n.benchmark, n.label, n.scenario}) == 0;
  }
  // Rows of the papers no official config runs (launch/suites/paper/README.md): SD-LoRA's Full
  // Fine-Tuning on 5 benchmarks, 9 rows of L2P, DualPrompt, CODA-P, HiDe and InfLoRA on benchmarks
  // without a config of theirs, A-GEM's 2 buffers on seq-tinyimagenet (a fractional memory per
  // class); two metrics each.
  EXPECT_EQ(unmatched, 2u * (5 + 9 + 2));
}

TEST(Validation, ADeepConfigIsRefusedNotACrash) {
  TempDir dir;
  const auto path = (dir / "deep.json").string();
  {
    std::ofstream f(path);
    for (int i = 0; i < 20000; ++i) f << "{\"a\":";
    f << "1";
    for (int i = 0; i < 20000; ++i) f << "}";
  }
  expect_refused_before_training(
      {{"run -b synthetic --config " + path, "nests deeper than 64 levels"},
       {"run -b synthetic --set epochs=" + std::string(100, '[') + std::string(100, ']'),
        "nests deeper than 64 levels"}});
}

TEST(Validation, UnsafeLabelsLongPathsAndUnwritableFoldersAreRefused) {
  TempDir dir;
  { std::ofstream((dir / "file").string()) << "x"; }
  const std::string run = "run -b synthetic --out " + dir.root() + " ";
  expect_refused_before_training({
      {run + "--name 'a|b'", "a label is 1 to 100 letters, digits"},
      {run + "--name " + std::string(120, 'x'), "a label is 1 to 100"},
      {"run -b synthetic --out " + dir.root() + "/" + std::string(300, 'd'),
       "has a folder name of 300 characters"},
      {"run -b synthetic --out " + (dir / "file/sub").string(), "cannot write to"},
  });
}

TEST(Validation, ATaskWithoutTestDataIsRefusedBeforeTraining) {
  // 5 classes in tasks of 2: the last task holds one class, which has test samples; a split
  // with more classes than the data has leaves a task without any.
  TempDir dir;
  expect_refused_before_training(
      {{"run -b synthetic --out " + dir.root() + " --set init_classes=11", "bad task split"}});
}

}  // namespace
}  // namespace clbench
