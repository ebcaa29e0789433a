#include "results/leaderboard.h"

#include <gtest/gtest.h>

#include <H5Cpp.h>

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/foundation/error.h"
#include "results/fingerprint.h"
#include "results/result_file.h"
#include "tests/core/fixtures.h"
#include "tests/core/result_fixtures.h"

namespace clbench {
namespace {

// A results folder per test, removed afterwards.
class LeaderboardTest : public testing::TempDirTest {};

using testing::make_run;

class LeaderboardGatherTest : public LeaderboardTest {
 protected:
  void SetUp() override {
    LeaderboardTest::SetUp();
    // Label x on benchmark b, file names out of seed order:
    //   seed 2: a=60 b=68 c=87 d=97 -> acc 64, weighted 66, aaa 73, forgetting 20, task-IL 92
    //   seed 0: a=56 b=64 c=85 d=95 -> acc 60, weighted 62, aaa 71, forgetting 24, task-IL 90
    //   seed 1: a=58 b=66 c=86 d=96 -> acc 62, weighted 64, aaa 72, forgetting 22, task-IL 91
    write_result(path("b/x/run-a.h5"), make_run("b", "x", 2, 60, 68, 87, 97));
    write_result(path("b/x/run-b.h5"), make_run("b", "x", 0, 56, 64, 85, 95));
    write_result(path("b/x/run-c.h5"), make_run("b", "x", 1, 58, 66, 86, 96));
    // Label y on benchmark b: acc 80, ranks above x.
    write_result(path("b/y/seed-0.h5"), make_run("b", "y", 0, 76, 84, 90, 90));
    // Benchmark a sorts before b whatever its accuracy.
    write_result(path("a/z/seed-0.h5"), make_run("a", "z", 0, 10, 10, 10, 10));
    // Not counted: a run still in progress, a garbage file; ignored: a temp file and a .txt.
    RunResult running = make_run("b", "x", 3, 0, 0, 0, 0);
    running.status = "running";
    write_result(path("b/x/run-d.h5"), running);
    std::ofstream(path("garbage.h5")) << "not hdf5";
    std::ofstream(path("b/x/run-e.h5.tmp.123")) << "half written";
    std::ofstream(path("b/x/notes.txt")) << "notes";
  }
};

TEST_F(LeaderboardGatherTest, GroupsRunsAndComputesStats) {
  const Leaderboard board = gather_leaderboard(root());
  ASSERT_EQ(board.entries.size(), 3u);
  EXPECT_EQ(board.entries[0].benchmark, "a");
  EXPECT_EQ(board.entries[1].label, "y");
  const LeaderboardEntry& x = board.entries[2];
  EXPECT_EQ(x.benchmark, "b");
  EXPECT_EQ(x.label, "x");
  EXPECT_EQ(x.method, "method-x");
  EXPECT_EQ(x.scenario, "class-il");
  EXPECT_EQ(x.runs, 3);
  EXPECT_EQ(x.seeds, (std::vector<int64_t>{0, 1, 2}));
  // Sample std of {m-d, m, m+d} is d.
  EXPECT_DOUBLE_EQ(x.final_acc.mean, 62);
  EXPECT_DOUBLE_EQ(x.final_acc.std, 2);
  EXPECT_DOUBLE_EQ(x.final_acc_weighted.mean, 64);
  EXPECT_DOUBLE_EQ(x.final_acc_weighted.std, 2);
  EXPECT_DOUBLE_EQ(x.aaa.mean, 72);
  EXPECT_DOUBLE_EQ(x.aaa.std, 1);
  EXPECT_DOUBLE_EQ(x.forgetting.mean, 22);
  EXPECT_DOUBLE_EQ(x.forgetting.std, 2);
  EXPECT_DOUBLE_EQ(x.bwt.mean, -22);
  EXPECT_DOUBLE_EQ(x.bwt.std, 2);
  EXPECT_DOUBLE_EQ(x.fwt.mean, 5);
  EXPECT_DOUBLE_EQ(x.fwt.std, 0);
  EXPECT_DOUBLE_EQ(x.task_il_final_acc.mean, 91);
  EXPECT_DOUBLE_EQ(x.task_il_final_acc.std, 1);

  const LeaderboardEntry& y = board.entries[1];
  EXPECT_EQ(y.runs, 1);
  EXPECT_DOUBLE_EQ(y.final_acc.mean, 80);
  EXPECT_DOUBLE_EQ(y.final_acc.std, 0);
}

TEST_F(LeaderboardGatherTest, SkipsIncompleteAndUnreadableFiles) {
  const Leaderboard board = gather_leaderboard(root());
  ASSERT_EQ(board.skipped.size(), 2u);
  EXPECT_EQ(board.skipped[0].path, path("b/x/run-d.h5"));
  EXPECT_EQ(board.skipped[0].reason, "status is 'running', not 'complete'");
  EXPECT_EQ(board.skipped[1].path, path("garbage.h5"));
  EXPECT_NE(board.skipped[1].reason.find(path("garbage.h5")), std::string::npos);
  EXPECT_NE(board.skipped[1].reason.find("not an HDF5 file"), std::string::npos);
}

TEST_F(LeaderboardGatherTest, JsonHasDocumentedKeys) {
  const nlohmann::json j = to_json(gather_leaderboard(root()));
  ASSERT_EQ(j.at("entries").size(), 3u);
  const nlohmann::json& x = j["entries"][2];
  for (const char* key : {"benchmark", "method", "label", "scenario", "runs", "seeds"}) {
    EXPECT_TRUE(x.contains(key)) << key;
  }
  for (const char* key : {"final_acc", "final_acc_weighted", "aaa", "forgetting", "bwt", "fwt",
                          "task_il_final_acc", "task_il_aaa", "task_il_forgetting"}) {
    ASSERT_TRUE(x.contains(key)) << key;
    EXPECT_TRUE(x[key].contains("mean")) << key;
    EXPECT_TRUE(x[key].contains("std")) << key;
  }
  EXPECT_EQ(x["label"], "x");
  EXPECT_EQ(x["runs"], 3);
  EXPECT_EQ(x["seeds"], nlohmann::json({0, 1, 2}));
  EXPECT_DOUBLE_EQ(x["final_acc"]["mean"].get<double>(), 62);
  EXPECT_DOUBLE_EQ(x["aaa"]["std"].get<double>(), 1);
  EXPECT_DOUBLE_EQ(x["task_il_forgetting"]["mean"].get<double>(), 4);  // 90 - c
  EXPECT_DOUBLE_EQ(x["memory_samples"]["mean"].get<double>(), 200);
  EXPECT_DOUBLE_EQ(x["seconds_per_task"]["mean"].get<double>(), 1.5);
  ASSERT_EQ(j.at("skipped").size(), 2u);
  EXPECT_EQ(j["skipped"][0]["path"], path("b/x/run-d.h5"));
  EXPECT_EQ(j["skipped"][0]["reason"], "status is 'running', not 'complete'");
}

TEST_F(LeaderboardGatherTest, MarkdownHasTablePerBenchmark) {
  const std::string md = to_markdown(gather_leaderboard(root()));
  const std::string header =
      "| Label | Method | Scenario | Runs | Acc (class-IL) | Acc weighted | AAA | Forgetting | BWT "
      "| "
      "FWT | Acc (task-IL) | Stored params | Stored per task | Memory (samples) | Memory (bytes) | "
      "Passes per test image | s per task | Images/s | Peak host MiB | Peak GPU MiB | Config |";
  EXPECT_NE(md.find(header), std::string::npos) << md;
  EXPECT_LT(md.find("### a\n"), md.find("### b\n")) << md;
  EXPECT_NE(md.find("| x | method-x | class-il | 3 | 62.00 ± 2.00 | 64.00 ± 2.00 | 72.00 ± 1.00 | "
                    "22.00 ± 2.00 | -22.00 ± 2.00 | 5.00 ± 0.00 | 91.00 ± 1.00 | 1,234,567 | "
                    "1,233,567 | 200 | 159,200 | 1 | 1.5 | 375 | 300 | — |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| y | method-y | class-il | 1 | 80.00 | 82.00 |"), std::string::npos) << md;
  EXPECT_NE(md.find("Skipped files"), std::string::npos) << md;
  EXPECT_NE(md.find(path("garbage.h5")), std::string::npos) << md;
}

// Per run: the largest peak over its tasks and the mean images per second; then the mean over runs.
// A CPU run has no GPU figure; a file written before /cost has none of them.
TEST_F(LeaderboardTest, CostsAreEachRunsPeakAndMeanRateAveragedOverRuns) {
  auto run = make_run("b", "x", 0, 56, 64, 85, 95);  // host {100, 300} MiB, {500, 250} images/s
  write_result(path("x/seed-0.h5"), run);
  run.seed = 1;
  run.peak_host_bytes = {500 << 20, 200 << 20};
  run.peak_device_bytes = {1LL << 30, 3LL << 30};
  run.train_images_per_second = {100, 100};
  write_result(path("x/seed-1.h5"), run);
  run.seed = 2;
  write_result_as_version(path("x/seed-2.h5"), run, 9);
  const auto board = gather_leaderboard(root());
  ASSERT_EQ(board.entries.size(), 1u);
  const auto& e = board.entries[0];
  EXPECT_EQ(e.runs, 3);
  EXPECT_EQ(e.cost_runs, 2);
  EXPECT_EQ(e.device_runs, 1);
  EXPECT_DOUBLE_EQ(e.peak_host_bytes.mean, (300.0 + 500.0) / 2 * (1 << 20));
  EXPECT_DOUBLE_EQ(e.images_per_second.mean, (375.0 + 100.0) / 2);
  EXPECT_DOUBLE_EQ(e.peak_device_bytes.mean, 3.0 * (1 << 30));
  const auto json = to_json(board)["entries"][0];
  EXPECT_DOUBLE_EQ(json["train_images_per_second"]["mean"].get<double>(), 237.5);
  EXPECT_NE(to_markdown(board).find("| 238 | 400 | 3072 |"), std::string::npos)
      << to_markdown(board);
}

TEST_F(LeaderboardTest, ScenariosAndSettingsStayApartAndASeedCountsOnce) {
  auto run = make_run("b", "er", 0, 56, 64, 85, 95);
  run.config_json = R"({"er.buffer": 500})";
  write_result(path("one/seed-0.h5"), run);
  write_result(path("copy/seed-0.h5"), run);  // the same run again: counted once
  run.scenario = "task-il";
  write_result(path("task-il/seed-0.h5"), run);
  run.scenario = "class-il";
  run.config_json = R"({"er.buffer": 20})";
  write_result(path("small/seed-0.h5"), run);
  const auto board = gather_leaderboard(root());
  ASSERT_EQ(board.entries.size(), 3u);  // class-IL 500, class-IL 20, task-IL 500
  for (const auto& e : board.entries) EXPECT_EQ(e.runs, 1) << e.scenario << " " << e.fingerprint;
  EXPECT_NE(board.entries[0].fingerprint, board.entries[1].fingerprint);
  ASSERT_EQ(board.skipped.size(), 1u);
  EXPECT_EQ(board.skipped[0].path, path("one/seed-0.h5"));  // after copy/ in name order
  EXPECT_NE(board.skipped[0].reason.find("seed 0 again"), std::string::npos);
}

TEST_F(LeaderboardTest, FilesWhoseNumbersCannotBeTrustedAreSkippedWithTheReason) {
  auto run = make_run("b", "x", 0, 56, 64, 85, 95);
  write_result(path("good.h5"), run);
  run.acc_class_il[1][0] = std::nan("");
  write_result(path("nan.h5"), run);
  run = make_run("b", "x", 1, 56, 64, 85, 95);
  run.acc_task_il[1][1] = 140;
  write_result(path("range.h5"), run);
  run = make_run("b", "x", 2, 56, 64, 85, 95);
  write_result(path("edited.h5"), run);
  {  // a stored metric that its matrix does not give
    H5::H5File file(path("edited.h5"), H5F_ACC_RDWR);
    H5::Group metrics = file.openGroup("/metrics");
    const double wrong = 99.0;
    metrics.openAttribute("final_acc").write(H5::PredType::NATIVE_DOUBLE, &wrong);
  }
  const auto board = gather_leaderboard(root());
  ASSERT_EQ(board.entries.size(), 1u);
  EXPECT_EQ(board.entries[0].runs, 1);
  std::map<std::string, std::string> why;
  for (const auto& s : board.skipped) why[s.path] = s.reason;
  EXPECT_NE(why[path("nan.h5")].find("not in 0..100"), std::string::npos) << why[path("nan.h5")];
  EXPECT_NE(why[path("range.h5")].find("140"), std::string::npos) << why[path("range.h5")];
  EXPECT_NE(why[path("edited.h5")].find("stored metric final_acc"), std::string::npos)
      << why[path("edited.h5")];
}

// The labels a file is grouped by must be those of the configuration it stores.
TEST_F(LeaderboardTest, FilesWhoseLabelsContradictTheirConfigurationAreSkipped) {
  auto run = make_run("b", "x", 0, 56, 64, 85, 95);
  run.method = "er";
  run.config_json = R"({"method": "er", "benchmark": "b", "seed": 0, "er.buffer": 500})";
  run.fingerprint = result_fingerprint(nlohmann::json::parse(run.config_json));
  write_result(path("good.h5"), run);
  auto relabelled = run;
  relabelled.method = "ewc";
  write_result(path("method.h5"), relabelled);
  auto refingerprinted = run;
  refingerprinted.fingerprint = "0123456789abcdef";
  write_result(path("fingerprint.h5"), refingerprinted);
  const auto board = gather_leaderboard(root());
  ASSERT_EQ(board.entries.size(), 1u);
  std::map<std::string, std::string> why;
  for (const auto& s : board.skipped) why[s.path] = s.reason;
  EXPECT_NE(why[path("method.h5")].find("filed under method 'ewc'"), std::string::npos)
      << why[path("method.h5")];
  EXPECT_NE(why[path("fingerprint.h5")].find("fingerprint 0123456789abcdef"), std::string::npos)
      << why[path("fingerprint.h5")];
}

TEST_F(LeaderboardTest, LinksAreListedAsNotFollowedAndCellsAreEscaped) {
  auto run = make_run("b", "a|b\nc", 0, 56, 64, 85, 95);
  write_result(path("real/seed-0.h5"), run);
  std::filesystem::create_directory_symlink(path("real"), path("link"));
  const auto board = gather_leaderboard(root());
  ASSERT_EQ(board.entries.size(), 1u);
  ASSERT_EQ(board.skipped.size(), 1u);
  EXPECT_EQ(board.skipped[0].path, path("link"));
  EXPECT_EQ(board.skipped[0].reason, "a link: not followed");
  const std::string md = to_markdown(board);
  EXPECT_NE(md.find("| a\\|b c | method-a\\|b c |"), std::string::npos) << md;
}

TEST_F(LeaderboardTest, MissingFolderThrows) {
  const std::string missing = path("absent");
  try {
    gather_leaderboard(missing);
    ADD_FAILURE() << "expected clbench::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
}

TEST_F(LeaderboardTest, EmptyFolderGivesEmptyBoard) {
  const Leaderboard board = gather_leaderboard(root());
  EXPECT_TRUE(board.entries.empty());
  EXPECT_TRUE(board.skipped.empty());
  EXPECT_EQ(to_json(board), nlohmann::json::parse(R"({"entries": [], "skipped": []})"));
}

// The descriptors this process has open (the listing's own left out).
int open_files() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n - 1;
}

// The descriptor the next open() would get: a limit of it leaves none to open.
rlim_t next_descriptor() {
  const int fd = dup(0);
  close(fd);
  return static_cast<rlim_t>(fd);
}

// The soft limit on open files lowered for one scope.
class OpenFileLimit {
 public:
  explicit OpenFileLimit(rlim_t soft) {
    getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    setrlimit(RLIMIT_NOFILE, &lowered);
  }
  ~OpenFileLimit() { setrlimit(RLIMIT_NOFILE, &saved_); }

 private:
  rlimit saved_{};
};

// Every file read is closed again: 300 results under a limit of 64 more open files than the
// process has are all counted, and reading leaves the process with the files it had.
TEST_F(LeaderboardTest, ReadingClosesEveryFileSoThousandsFitUnderTheOpenFileLimit) {
  for (int64_t seed = 0; seed < 300; ++seed) {
    write_result(path("b/x/seed-" + std::to_string(seed) + ".h5"),
                 make_run("b", "x", seed, 56, 64, 85, 95));
  }
  const int before = open_files();
  Leaderboard board;
  {
    OpenFileLimit limit(static_cast<rlim_t>(before + 64));
    board = gather_leaderboard(root());
  }
  EXPECT_EQ(open_files(), before);
  ASSERT_EQ(board.entries.size(), 1u);
  EXPECT_EQ(board.entries[0].runs, 300);
  EXPECT_TRUE(board.skipped.empty()) << board.skipped[0].path << ": " << board.skipped[0].reason;
}

// A file the system cannot open for want of descriptors is the system's failure, not the file's:
// it ends the leaderboard with the reason instead of being skipped as unreadable.
TEST_F(LeaderboardTest, OutOfFileDescriptorsIsAnErrorNotASkippedFile) {
  write_result(path("seed-0.h5"), make_run("b", "x", 0, 56, 64, 85, 95));
  try {
    OpenFileLimit limit(next_descriptor());  // no new descriptor
    read_result(path("seed-0.h5"));
    ADD_FAILURE() << "expected a SystemError";
  } catch (const SystemError& e) {
    EXPECT_NE(std::string(e.what()).find("Too many open files"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path("seed-0.h5")), std::string::npos) << e.what();
  }
  OpenFileLimit limit(next_descriptor());
  EXPECT_THROW(gather_leaderboard(root()), Error);
}

}  // namespace
}  // namespace clbench
