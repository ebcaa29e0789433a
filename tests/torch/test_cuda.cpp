// GPU paths. Named *_CUDA and skipped where no GPU is visible (CI and the build machine).
#include <gtest/gtest.h>

#include "harness/progress.h"
#include "support.h"
#ifdef CLBENCH_WITH_NCCL
#include "harness/comm_nccl.h"
#endif

namespace clbench {
namespace {

TEST(Gpu, TrainsAndEvaluatesOnOneGpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto plan = testing::plan({{"benchmark", "synthetic"}, {"method", "er"}, {"device", "cuda"}});
  LocalCommunicator comm;
  Progress quiet(false, false);
  const auto gpu = execute(plan, comm, quiet);
  EXPECT_GT(final_accuracy(gpu.acc_class_il), 60.0);
  plan = testing::plan({{"benchmark", "synthetic"}, {"method", "er"}, {"device", "cpu"}});
  const auto cpu = execute(plan, comm, quiet);
  EXPECT_NEAR(final_accuracy(gpu.acc_class_il), final_accuracy(cpu.acc_class_il), 5.0);
}

#ifdef CLBENCH_WITH_NCCL
TEST(Nccl, OneRankCommunicatorReducesAndBroadcasts_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  NcclComm nccl(/*rank=*/0, /*size=*/1, /*local_rank=*/0);
  auto t = torch::arange(10, torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA));
  const auto before = t.clone();
  nccl.allreduce_sum(t);
  nccl.broadcast(t, 0);
  EXPECT_TRUE(torch::equal(t.cpu(), before.cpu()));
}
#endif

}  // namespace
}  // namespace clbench
