// SIGTERM and SIGINT are honoured within a bounded time anywhere in a run, the initial evaluation
// included (a checkpoint at the last consistent point, exit 75); a second signal ends the process
// at once, writing nothing.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "harness/engine/checkpoint.h"
#include "support.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// A ViT run whose initial evaluation takes many seconds: 40,000 test images, 256 at a time.
std::string long_evaluation(const TempDir& dir) {
  return "run -b synthetic -m finetune --backbone vit-tiny28 --threads 1 --out " + dir.root() +
         " --set synthetic.side=28 --set synthetic.test_per_class=4000 --set "
         "synthetic.train_per_class=10 --set eval_batch_size=256";
}

// Starts the run and waits until it has begun its initial evaluation (the run's title line).
pid_t start_evaluating(const TempDir& dir, const std::string& log) {
  const pid_t pid = testing::spawn_clbench(long_evaluation(dir), log);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (testing::read_text(log).find("tasks, backbone") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // inside the evaluation
  return pid;
}

TEST(Signals, SigtermDuringTheInitialEvaluationStopsWithinSecondsWithACheckpoint) {
  TempDir dir;
  const auto log = (dir / "log").string();
  const pid_t pid = start_evaluating(dir, log);
  const auto sent = std::chrono::steady_clock::now();
  kill(pid, SIGTERM);
  const int code = testing::wait_exit(pid);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
  EXPECT_EQ(code, 75) << testing::read_text(log);
  EXPECT_LT(seconds, 5.0);
  const auto ckpt =
      Checkpoint::load((dir / "synthetic/finetune/seed-0.ckpt").string(), torch::kCPU);
  ASSERT_TRUE(ckpt.has_value());
  EXPECT_EQ(ckpt->state.task, 0);
  EXPECT_FALSE(ckpt->state.evaluated_init) << "the evaluation runs again on resume";
}

TEST(Signals, ASecondSignalEndsTheProcessAtOnceWritingNothing) {
  TempDir dir;
  const auto log = (dir / "log").string();
  const pid_t pid = start_evaluating(dir, log);
  kill(pid, SIGTERM);
  kill(pid, SIGINT);
  // Both are delivered, but not necessarily in this order: when the process has not run between
  // the two kills (a busy machine), the kernel delivers the pending SIGINT first (lower number).
  // Whichever comes second ends the process with its own code.
  const int code = testing::wait_exit(pid);
  EXPECT_TRUE(code == 128 + SIGINT || code == 128 + SIGTERM) << "exit " << code << "\n"
                                                             << testing::read_text(log);
  EXPECT_FALSE(fs::exists(dir / "synthetic/finetune/seed-0.ckpt"));
}

}  // namespace
}  // namespace clbench
