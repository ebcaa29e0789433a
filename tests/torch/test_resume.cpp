// Crash safety: a run killed with SIGKILL, or stopped with SIGTERM, continues from its checkpoint
// with --resume and ends with exactly the numbers of an uninterrupted run.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

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

// Long enough (20 epochs x 5 tasks x 19 steps) to be interrupted mid-task.
std::string run_args(const std::string& method, const fs::path& out) {
  return "run -b synthetic -m " + method + " --epochs 20 --threads 1 --checkpoint-every 7 --out " +
         out.string();
}

pid_t spawn(const std::string& args, const fs::path& log) {
  return testing::spawn_clbench(args, log.string());
}

// Waits until the run has written a checkpoint after some training steps.
bool wait_for_checkpoint(const fs::path& ckpt, pid_t pid) {
  return testing::wait_for_file(ckpt.string(), pid);
}

void expect_same_numbers(const RunResult& a, const RunResult& b) {
  EXPECT_EQ(testing::bits(a.acc_class_il), testing::bits(b.acc_class_il));
  EXPECT_EQ(testing::bits(a.acc_task_il), testing::bits(b.acc_task_il));
  EXPECT_EQ(a.init_class_il, b.init_class_il);
  EXPECT_EQ(a.init_task_il, b.init_task_il);
  EXPECT_EQ(a.trainable_params, b.trainable_params);
  EXPECT_EQ(a.class_il.final_acc, b.class_il.final_acc);
  EXPECT_EQ(a.task_il.aaa, b.task_il.aaa);
}

class Resume : public ::testing::TestWithParam<std::string> {};

TEST_P(Resume, AfterKillNineGivesTheUninterruptedNumbers) {
  TempDir reference, crashed;
  std::string out;
  ASSERT_EQ(run_command(clbench_cmd(run_args(GetParam(), reference.dir())), out), 0) << out;
  const auto expected =
      read_result((reference.dir() / "synthetic" / GetParam() / "seed-0.h5").string());

  const fs::path result = crashed.dir() / "synthetic" / GetParam() / "seed-0.h5";
  const fs::path ckpt = crashed.dir() / "synthetic" / GetParam() / "seed-0.ckpt";
  const pid_t pid = spawn(run_args(GetParam(), crashed.dir()), crashed.dir() / "log");
  ASSERT_TRUE(wait_for_checkpoint(ckpt, pid)) << "no checkpoint appeared";
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // somewhere past it
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_FALSE(fs::exists(result)) << "the run finished before it was killed";

  ASSERT_EQ(run_command(clbench_cmd(run_args(GetParam(), crashed.dir()) + " --resume"), out), 0)
      << out;
  EXPECT_NE(out.find("resuming from"), std::string::npos) << out;
  expect_same_numbers(read_result(result.string()), expected);
  EXPECT_FALSE(fs::exists(ckpt)) << "the checkpoint of a finished run is removed";
}

TEST_P(Resume, SigtermWritesACheckpointAndExitsWithCode75) {
  TempDir reference, stopped;
  std::string out;
  ASSERT_EQ(run_command(clbench_cmd(run_args(GetParam(), reference.dir())), out), 0) << out;
  const auto expected =
      read_result((reference.dir() / "synthetic" / GetParam() / "seed-0.h5").string());

  const fs::path ckpt = stopped.dir() / "synthetic" / GetParam() / "seed-0.ckpt";
  const pid_t pid = spawn(run_args(GetParam(), stopped.dir()), stopped.dir() / "log");
  ASSERT_TRUE(wait_for_checkpoint(ckpt, pid));
  const auto sent = std::chrono::steady_clock::now();
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 75);
  EXPECT_LT(seconds, 30.0);
  EXPECT_TRUE(fs::exists(ckpt));

  ASSERT_EQ(run_command(clbench_cmd(run_args(GetParam(), stopped.dir()) + " --resume"), out), 0)
      << out;
  expect_same_numbers(
      read_result((stopped.dir() / "synthetic" / GetParam() / "seed-0.h5").string()), expected);
}

// The process-level mechanism (a real SIGKILL, a real SIGTERM and exit code 75) on one method;
// every registered method resumes bitwise in the conformance suite (test_conformance.cpp).
INSTANTIATE_TEST_SUITE_P(Process, Resume, ::testing::Values("er"));

TEST(ResumeRules, CompleteResultsAreSkippedUnlessForcedAndAChangedConfigIsRefused) {
  TempDir dir;
  std::string out;
  const std::string args = "run -b synthetic -m finetune --out " + dir.dir().string();
  ASSERT_EQ(run_command(clbench_cmd(args), out), 0) << out;
  ASSERT_EQ(run_command(clbench_cmd(args), out), 0) << out;
  EXPECT_NE(out.find("is complete; skipping"), std::string::npos) << out;
  ASSERT_EQ(run_command(clbench_cmd(args + " --force"), out), 0) << out;
  EXPECT_EQ(out.find("skipping"), std::string::npos) << out;

  // A checkpoint made with other settings is not silently continued.
  const pid_t pid = spawn(run_args("er", dir.dir()), dir.dir() / "log");
  ASSERT_TRUE(wait_for_checkpoint(dir.dir() / "synthetic/er/seed-0.ckpt", pid));
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  EXPECT_EQ(run_command(clbench_cmd(run_args("er", dir.dir()) + " --lr 0.5 --resume"), out), 1);
  EXPECT_NE(out.find("configuration differs"), std::string::npos) << out;
  EXPECT_NE(out.find("lr: checkpoint 0.01, now 0.5"), std::string::npos) << out;
}

}  // namespace
}  // namespace clbench
