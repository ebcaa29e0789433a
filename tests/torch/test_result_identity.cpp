// A result is identified by what decides its numbers (results/fingerprint.h): the same run is
// skipped, other settings on the same file are refused (or replaced with --force), a suite never
// writes one file for two configurations, checkpoints are continued only when asked, and a second
// process on the same result is refused.
#include <signal.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "harness/engine/progress.h"
#include "results/result_file.h"
#include "support.h"
#include "tests/common/accuracy_bits.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;
using testing::clbench_cmd;
using testing::run_command;
using testing::TempDir;

TEST(ResultIdentity, TheSameRunIsSkippedOtherSettingsAreRefusedAndForceReplacesThem) {
  TempDir dir;
  std::string out;
  const std::string base = "run -b synthetic -m er --epochs 1 --out " + dir.root();
  ASSERT_EQ(run_command(clbench_cmd(base), out), 0) << out;
  ASSERT_EQ(run_command(clbench_cmd(base + " --threads 1"), out), 0) << out;  // speed: the same run
  EXPECT_NE(out.find("is complete; skipping"), std::string::npos) << out;
  ASSERT_EQ(
      run_command(clbench_cmd("run -b synthetic -m er --epochs 1 --out " + dir.root() + "/."), out),
      0)
      << out;
  EXPECT_NE(out.find("is complete; skipping"), std::string::npos) << "the same folder: " << out;

  const std::string other = base + " --scenario task-il --set er.buffer=20";
  EXPECT_EQ(run_command(clbench_cmd(other), out), 1) << out;
  EXPECT_NE(out.find("holds a result of other settings"), std::string::npos) << out;
  EXPECT_NE(out.find("er.buffer: there 500, now 20"), std::string::npos) << out;
  EXPECT_NE(out.find("scenario: there \"class-il\", now \"task-il\""), std::string::npos) << out;
  const auto path = (dir / "synthetic/er/seed-0.h5").string();
  EXPECT_EQ(read_result(path).scenario, "class-il") << "the refused run must not touch the file";
  ASSERT_EQ(run_command(clbench_cmd(other + " --force"), out), 0) << out;
  EXPECT_EQ(read_result(path).scenario, "task-il");
}

// The fingerprint names the setting, not the seed: seeds of one setting make one leaderboard entry,
// while a result of another seed in this seed's file is still another run.
TEST(ResultIdentity, SeedsOfOneSettingShareAFingerprintButNotAResult) {
  TempDir dir;
  std::string out;
  const std::string base =
      "run -b synthetic -m finetune --epochs 1 --threads 1 --out " + dir.root();
  for (const char* seed : {"0", "1"}) {
    ASSERT_EQ(run_command(clbench_cmd(base + " --seed " + seed), out), 0) << out;
  }
  const auto seed0 = read_result((dir / "synthetic/finetune/seed-0.h5").string());
  const auto seed1 = read_result((dir / "synthetic/finetune/seed-1.h5").string());
  EXPECT_EQ(seed0.fingerprint, seed1.fingerprint);
  EXPECT_NE(testing::bits(seed0.acc_class_il), testing::bits(seed1.acc_class_il))
      << "the seeds should differ in their numbers";
  ASSERT_EQ(run_command(clbench_cmd("leaderboard " + dir.root()), out), 0) << out;
  EXPECT_NE(out.find("| finetune | finetune | class-il | 2 |"), std::string::npos)
      << "one entry of 2 runs: " << out;

  fs::copy_file(dir / "synthetic/finetune/seed-1.h5", dir / "synthetic/finetune/seed-0.h5",
                fs::copy_options::overwrite_existing);
  EXPECT_EQ(run_command(clbench_cmd(base + " --seed 0"), out), 1) << out;
  EXPECT_NE(out.find("seed: there 1, now 0"), std::string::npos) << out;
}

TEST(ResultIdentity, ASuiteWhoseEntriesWouldShareAResultIsRefusedNamingThem) {
  TempDir dir;
  const auto suite = (dir / "suite.json").string();
  std::ofstream(suite) << R"({"defaults": {"epochs": 1}, "benchmarks": ["synthetic"],
    "methods": ["er", {"method": "er", "set": {"er.buffer": 20}}], "seeds": [0]})";
  std::string out;
  EXPECT_EQ(run_command(clbench_cmd("suite " + suite + " --out " + dir.root()), out), 1) << out;
  EXPECT_NE(out.find("entries 0 and 1 would both write"), std::string::npos) << out;
  EXPECT_NE(out.find("er.buffer: entry 0 500, entry 1 20"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "synthetic")) << "nothing may run";
  std::ofstream(suite) << R"({"defaults": {"epochs": 1}, "benchmarks": ["synthetic"],
    "methods": ["er", {"method": "er", "name": "er-20", "set": {"er.buffer": 20}}], "seeds": [0]})";
  ASSERT_EQ(run_command(clbench_cmd("suite " + suite + " --out " + dir.root()), out), 0) << out;
  EXPECT_TRUE(fs::exists(dir / "synthetic/er/seed-0.h5"));
  EXPECT_TRUE(fs::exists(dir / "synthetic/er-20/seed-0.h5"));
}

TEST(ResultIdentity, ASuiteScenarioAxisWritesEachScenarioInItsOwnFolder) {
  TempDir dir;
  const auto suite = (dir / "suite.json").string();
  std::ofstream(suite) << R"({"defaults": {"epochs": 1, "synthetic.classes": 4},
    "benchmarks": ["synthetic"], "scenarios": ["class-il", "task-il"], "methods": ["finetune"],
    "seeds": [0]})";
  std::string out;
  ASSERT_EQ(run_command(clbench_cmd("suite " + suite + " --count"), out), 0) << out;
  EXPECT_NE(out.find('2'), std::string::npos) << out;
  ASSERT_EQ(run_command(clbench_cmd("suite " + suite + " --out " + dir.root()), out), 0) << out;
  for (const std::string scenario : {"class-il", "task-il"}) {
    const auto file = dir / scenario / "synthetic/finetune/seed-0.h5";
    ASSERT_TRUE(fs::exists(file)) << file;
    EXPECT_EQ(read_result(file.string()).scenario, scenario);
  }
  std::ofstream(suite) << R"({"benchmarks": ["synthetic"], "scenarios": [3], "methods": ["er"],
    "seeds": [0]})";
  EXPECT_EQ(run_command(clbench_cmd("suite " + suite + " --count"), out), 1) << out;
  EXPECT_NE(out.find("'scenarios'"), std::string::npos) << out;
}

// A checkpoint of the run (stopped by SIGTERM after its first checkpoint).
void make_checkpoint(const TempDir& dir, const std::string& args) {
  const auto log = (dir / "log").string();
  const pid_t pid = testing::spawn_clbench(args, log);
  ASSERT_TRUE(testing::wait_for_file((dir / "synthetic/er/seed-0.ckpt").string(), pid));
  kill(pid, SIGTERM);
  ASSERT_EQ(testing::wait_exit(pid), 75) << testing::read_text(log);
}

TEST(ResultIdentity, ACheckpointIsContinuedOnlyWithResumeAndForceStartsOver) {
  TempDir dir;
  const std::string args =
      "run -b synthetic -m er --epochs 20 --threads 1 --checkpoint-every 5 --out " + dir.root();
  make_checkpoint(dir, args);
  std::string out;
  EXPECT_EQ(run_command(clbench_cmd(args), out), 1) << out;
  EXPECT_NE(out.find("holds a checkpoint of this run: continue it with --resume, or start over "
                     "with --force"),
            std::string::npos)
      << out;
  // Another thread count would continue with other bits (reductions split by thread): refused.
  EXPECT_EQ(run_command(clbench_cmd("run -b synthetic -m er --epochs 20 --threads 2 --out " +
                                    dir.root() + " --resume"),
                        out),
            1)
      << out;
  EXPECT_NE(out.find("threads: checkpoint 1, now 2"), std::string::npos) << out;
  // A harmless change (how the folder is spelled) still resumes.
  const std::string moved =
      "run -b synthetic -m er --epochs 20 --threads 1 --out " + dir.root() + "/./";
  ASSERT_EQ(run_command(clbench_cmd(moved + " --resume"), out), 0) << out;
  EXPECT_NE(out.find("resuming from"), std::string::npos) << out;
  // --force with --resume starts over.
  make_checkpoint(dir, args + " --force");
  ASSERT_EQ(run_command(clbench_cmd(args + " --resume --force"), out), 0) << out;
  EXPECT_EQ(out.find("resuming from"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "synthetic/er/seed-0.ckpt"));
}

TEST(ResultIdentity, ADamagedCheckpointInASuiteIsReportedAndTheOtherRunsGoOn) {
  TempDir dir;
  fs::create_directories(dir / "synthetic/er");
  std::ofstream((dir / "synthetic/er/seed-0.ckpt").string()) << "not a checkpoint";
  const auto suite = (dir / "suite.json").string();
  std::ofstream(suite) << R"({"defaults": {"epochs": 1}, "benchmarks": ["synthetic"],
    "methods": ["er", "finetune"], "seeds": [0]})";
  std::string out;
  EXPECT_EQ(run_command(clbench_cmd("suite " + suite + " --out " + dir.root()), out), 1) << out;
  EXPECT_NE(out.find("suite entry 0"), std::string::npos) << out;
  EXPECT_NE(out.find("damaged checkpoint"), std::string::npos) << out;
  EXPECT_NE(out.find("1 run, 0 already complete, 1 refused"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(dir / "synthetic/finetune/seed-0.h5"));
}

TEST(ResultIdentity, ASecondProcessOnTheSameResultIsRefused) {
  TempDir dir;
  const std::string args =
      "run -b synthetic -m er --epochs 50 --threads 1 --checkpoint-every 5 --out " + dir.root();
  const pid_t first = testing::spawn_clbench(args, (dir / "log").string());
  ASSERT_TRUE(testing::wait_for_file((dir / "synthetic/er/seed-0.ckpt").string(), first));
  std::string out;
  EXPECT_EQ(run_command(clbench_cmd(args + " --resume"), out), 1) << out;
  EXPECT_NE(out.find("another clbench process is running"), std::string::npos) << out;
  kill(first, SIGKILL);
  testing::wait_exit(first);
  // The killed process's lock file is left behind but no longer held.
  EXPECT_TRUE(fs::exists(dir / "synthetic/er/seed-0.h5.lock"));
  EXPECT_EQ(run_command(clbench_cmd("run -b synthetic -m er --epochs 1 --threads 1 --force --out " +
                                    dir.root()),
                        out),
            0)
      << out;
  EXPECT_FALSE(fs::exists(dir / "synthetic/er/seed-0.h5.lock")) << "removed once done";
}

TEST(ResultIdentity, EveryPartOfAResumedRunRecordsItsRanks) {
  TempDir dir;
  auto plan = testing::plan({{"benchmark", "synthetic"}, {"method", "er"}, {"out", dir.root()}});
  LocalCommunicator comm;
  Progress quiet(false, false);
  int polls = 0;
  RunOptions stop;
  stop.stop_requested = [&] { return ++polls == 30; };
  EXPECT_THROW(execute(plan, comm, quiet, stop), Interrupted);
  RunOptions resume;
  resume.resume = true;
  const auto r = execute(plan, comm, quiet, resume);
  EXPECT_EQ(r.world_sizes, (std::vector<int64_t>{1, 1}));
  EXPECT_FALSE(r.fingerprint.empty());
}

}  // namespace
}  // namespace clbench

namespace clbench {
namespace {

// The data is part of a result's identity: the same settings on other files are refused (not
// skipped as complete), the same files in another folder are the same run.
TEST(ResultIdentity, TheSameSettingsOnOtherDataAreAnotherResult) {
  TempDir dir;
  testing::write_idx_data(dir / "data", 12, false);
  testing::write_idx_data(dir / "copy", 12, false);
  testing::write_idx_data(dir / "changed", 12, true);
  const std::string base = "run -b split-fmnist -m finetune --epochs 1 --threads 1 --out " +
                           (dir / "runs").string() + " --data-root ";
  std::string out;
  ASSERT_EQ(run_command(clbench_cmd(base + (dir / "data").string()), out), 0) << out;
  const auto result = read_result((dir / "runs/split-fmnist/finetune/seed-0.h5").string());
  EXPECT_NE(result.config_json.find("\"data_content\":\""), std::string::npos)
      << result.config_json;
  ASSERT_EQ(run_command(clbench_cmd(base + (dir / "copy").string()), out), 0) << out;
  EXPECT_NE(out.find("is complete; skipping"), std::string::npos) << out;
  EXPECT_EQ(run_command(clbench_cmd(base + (dir / "changed").string()), out), 1) << out;
  EXPECT_NE(out.find("holds a result of other settings"), std::string::npos) << out;
  EXPECT_NE(out.find("data_content: there"), std::string::npos) << out;
}

// A failed entry (diverged) does not stop the suite: the next entry runs, a table gives every
// entry's outcome and the exit code says that one failed.
TEST(SuiteOutcomes, AFailedEntryIsReportedAndTheOthersStillRun) {
  TempDir dir;
  {
    std::ofstream(dir / "suite.json") << R"({"defaults": {"epochs": 1, "threads": 1},
      "benchmarks": ["synthetic"],
      "methods": [{"method": "finetune", "name": "diverges", "set": {"lr": 100000}}, "er"],
      "seeds": [0]})";
  }
  std::string out;
  EXPECT_EQ(
      run_command(clbench_cmd("suite " + (dir / "suite.json").string() + " --out " + dir.root()),
                  out),
      1)
      << out;
  EXPECT_NE(out.find("training diverged"), std::string::npos) << out;
  EXPECT_NE(out.find("1 run, 0 already complete, 0 refused, 1 failed"), std::string::npos) << out;
  EXPECT_NE(out.find("| 0 | synthetic | diverges | class-il | 0 | failed |"), std::string::npos)
      << out;
  EXPECT_NE(out.find("| 1 | synthetic | er | class-il | 0 | done |"), std::string::npos) << out;
  EXPECT_EQ(read_result((dir / "synthetic/er/seed-0.h5").string()).status, "complete");
}

// --list maps every index to its run and result file, and what is done, without reading data or
// weights (here the weights do not exist yet).
TEST(SuiteOutcomes, ListNamesEveryEntryWithoutTheWeights) {
  TempDir dir;
  {
    std::ofstream(dir / "suite.json") << R"({"defaults": {"epochs": 1, "threads": 1,
        "pretrained": "not-yet/vit.safetensors", "backbone": "vit-tiny28"},
      "benchmarks": ["synthetic"], "methods": ["sd-lora", "finetune"], "seeds": [0, 1]})";
  }
  std::string out;
  const std::string suite = "suite " + (dir / "suite.json").string() + " --out " + dir.root();
  ASSERT_EQ(run_command(clbench_cmd(suite + " --list"), out), 0) << out;
  EXPECT_NE(out.find("| 3 | synthetic | finetune | class-il | 1 | to run | " + dir.root() +
                     "/synthetic/finetune/seed-1.h5 |"),
            std::string::npos)
      << out;
  ASSERT_EQ(run_command(clbench_cmd(suite + " --count"), out), 0) << out;
  EXPECT_EQ(out, "4\n");
}

// A grid expands an entry into labelled variants; "benchmarks" restricts an entry; settings apply
// as defaults < benchmark set < method set < grid; --dry-run names each run's files and sources.
TEST(SuiteOutcomes, GridsBenchmarkSettingsAndSourcesExpandAsDocumented) {
  TempDir dir;
  const auto suite = (dir / "suite.json").string();
  std::ofstream(suite) << R"({"source": "a table", "defaults": {"epochs": 1, "batch_size": 16,
      "threads": 1},
    "benchmarks": [{"benchmark": "synthetic", "set": {"batch_size": 8, "lr": 0.5,
                                                       "synthetic.classes": 4},
                    "source": "bench.cfg"}, "split-fmnist"],
    "methods": [{"method": "ewc", "set": {"lr": 0.05}, "grid": {"ewc.lambda": [10, 1000]},
                 "source": "repo@abc:ewc.json"},
                {"method": "er", "name": "er-20", "set": {"er.buffer": 20},
                 "benchmarks": ["synthetic"]}],
    "seeds": [0]})";
  std::string out;
  ASSERT_EQ(run_command(clbench_cmd("suite " + suite + " --count"), out), 0) << out;
  EXPECT_EQ(out, "5\n");  // 2 ewc variants on both benchmarks, er-20 on synthetic only
  ASSERT_EQ(run_command(clbench_cmd("suite " + suite + " --dry-run --set data_root=" + dir.root() +
                                    "/absent --out " + dir.root()),
                        out),
            0)
      << out;
  EXPECT_NE(out.find("| 1 | synthetic | ewc@lambda=1000 | class-il | 0 | to run | " + dir.root() +
                     "/synthetic/ewc@lambda=1000/seed-0.h5 | none | repo@abc:ewc.json; "
                     "bench.cfg |"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("| 4 | split-fmnist | ewc@lambda=1000 | class-il | 0 | to run | " +
                     dir.root() + "/split-fmnist/ewc@lambda=1000/seed-0.h5 | data_root=" +
                     dir.root() + "/absent (missing) | repo@abc:ewc.json |"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("split-fmnist | er-20"), std::string::npos) << out;
  ASSERT_EQ(run_command(clbench_cmd("suite " + suite + " --index 1 --out " + dir.root()), out), 0)
      << out;
  const auto config = nlohmann::json::parse(
      read_result((dir / "synthetic/ewc@lambda=1000/seed-0.h5").string()).config_json);
  EXPECT_EQ(config["ewc.lambda"], 1000);
  EXPECT_EQ(config["batch_size"], 8);  // the benchmark's set over the defaults
  EXPECT_EQ(config["lr"], 0.05);       // the method's set over the benchmark's
  for (const auto& [text, error] : std::vector<std::pair<std::string, std::string>>{
           {R"("methods": [{"method": "ewc", "grid": {"ewc.lambda": [1]},
                 "set": {"ewc.lambda": 2}}])",
            "'ewc.lambda' is both in the grid and in 'set'"},
           {R"("methods": [{"method": "ewc", "grid": {"ewc.lambda": []}}])",
            "grid key 'ewc.lambda'"},
           {R"("methods": [{"method": "ewc", "benchmarks": ["cifar100-10"]}])",
            "names benchmark \"cifar100-10\", which is not in the suite's 'benchmarks'"},
           {R"("methods": [{"method": "ewc", "grid": {"seed": [1, 2]}}])", "sets 'seed'"},
           {R"("methods": [{"method": "ewc", "sorce": "x"}])", "unknown key 'sorce'"}}) {
    std::ofstream(suite) << R"({"benchmarks": ["synthetic"], "seeds": [0], )" + text + "}";
    EXPECT_EQ(run_command(clbench_cmd("suite " + suite + " --count"), out), 1) << text;
    EXPECT_NE(out.find(error), std::string::npos) << text << "\n" << out;
  }
}

}  // namespace
}  // namespace clbench
