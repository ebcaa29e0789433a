// GPU paths. Named *_CUDA and skipped where no GPU is visible (CI and the build machine).
#include <filesystem>

#include <gtest/gtest.h>

#include "harness/engine/progress.h"
#include "harness/foundation/error.h"
#include "methods/method.h"
#include "support.h"
#ifdef CLBENCH_WITH_NCCL
#include "harness/distributed/nccl.h"
#endif

namespace clbench {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

TEST(Gpu, TrainsAndEvaluatesOnOneGpu_CUDA) {
  SKIP_WITHOUT_GPU();
  auto plan = testing::plan({{"benchmark", "synthetic"}, {"method", "er"}, {"device", "cuda"}});
  LocalCommunicator comm;
  Progress quiet(false, false);
  const auto gpu = execute(plan, comm, quiet);
  EXPECT_GT(final_accuracy(gpu.acc_class_il), 60.0);
  plan = testing::plan({{"benchmark", "synthetic"}, {"method", "er"}, {"device", "cpu"}});
  const auto cpu = execute(plan, comm, quiet);
  EXPECT_NEAR(final_accuracy(gpu.acc_class_il), final_accuracy(cpu.acc_class_il), 5.0);
}

// Average anytime accuracy of one of a run's matrices (execute() leaves the metrics to the writer).
double aaa(const Matrix& R, const RunResult& r) {
  return average_anytime_accuracy(R, r.test_counts);
}

// A small ViT run of `method` (3 tasks x 2 classes) on `device`.
nlohmann::json vit_run(const std::string& method, const std::string& device,
                       const std::string& out) {
  nlohmann::json user = {{"benchmark", "synthetic"},
                         {"method", method},
                         {"backbone", "vit-tiny28"},
                         {"synthetic", {{"side", 28}, {"classes", 6}}},
                         {"epochs", 3},
                         {"batch_size", 32},
                         {"threads", 2},
                         {"device", device},
                         {"out", ::testing::TempDir() + "cuda-" + out}};
  if (method == "fm-lora") user["fm-lora"] = {{"warmup_steps", 2}};
  if (method == "inflora") user["inflora"] = {{"moment_samples", 100}};
  return user;
}

// Every method on the GPU against the CPU: the conformance suite's *_CUDA check
// (tests/torch/test_conformance.cpp).

// The CNN backbone (cuDNN convolutions), with and without replay.
TEST(Gpu, CnnTrainsOnTheGpuLikeOnTheCpu_CUDA) {
  SKIP_WITHOUT_GPU();
  for (const std::string method : {"finetune", "er"}) {
    auto user = [&](const std::string& device) {
      return nlohmann::json{{"benchmark", "synthetic"},
                            {"method", method},
                            {"backbone", "cnn"},
                            {"device", device},
                            {"threads", 2},
                            {"epochs", 2},
                            {"out", ::testing::TempDir() + "cuda-cnn-" + method + device}};
    };
    const auto gpu = testing::run_quiet(user("cuda"));
    const auto cpu = testing::run_quiet(user("cpu"));
    EXPECT_NEAR(aaa(gpu.acc_class_il, gpu), aaa(cpu.acc_class_il, cpu), 5.0) << method;
    EXPECT_NEAR(aaa(gpu.acc_task_il, gpu), aaa(cpu.acc_task_il, cpu), 5.0) << method;
  }
}

// TF32 matrix products (tf32=true) change the numbers by rounding only.
TEST(Gpu, Tf32TrainsLikeFp32_CUDA) {
  SKIP_WITHOUT_GPU();
  auto tf32 = vit_run("sd-lora", "cuda", "sd-lora-tf32");
  tf32["tf32"] = true;
  const auto fast = testing::run_quiet(tf32);
  const auto exact = testing::run_quiet(vit_run("sd-lora", "cuda", "sd-lora-fp32"));
  EXPECT_NEAR(aaa(fast.acc_task_il, fast), aaa(exact.acc_task_il, exact), 5.0);
  EXPECT_NEAR(aaa(fast.acc_class_il, fast), aaa(exact.acc_class_il, exact), 5.0);
}

// A run stopped on the GPU resumes from its checkpoint on the GPU to the uninterrupted numbers, and
// the same checkpoint also resumes on the CPU (the device is not part of the results).
TEST(Gpu, StoppedGpuRunsResumeOnTheGpuAndOnTheCpu_CUDA) {
  SKIP_WITHOUT_GPU();
  LocalCommunicator comm;
  Progress quiet(false, false);
  for (const std::string method : {"er", "sd-lora", "inflora"}) {
    const auto full =
        execute(testing::plan(vit_run(method, "cuda", method + "-full")), comm, quiet);
    for (const std::string resume_on : {"cuda", "cpu"}) {
      const std::string out = method + "-stop-" + resume_on;
      int steps = 0;
      RunOptions stop;
      stop.checkpoint_every = 4;
      stop.stop_requested = [&] { return ++steps == 9; };  // mid task 2
      EXPECT_THROW(execute(testing::plan(vit_run(method, "cuda", out)), comm, quiet, stop),
                   Interrupted);
      RunOptions resume;
      resume.resume = true;
      const auto resumed =
          execute(testing::plan(vit_run(method, resume_on, out)), comm, quiet, resume);
      if (resume_on == "cuda") {
        EXPECT_EQ(resumed.acc_class_il, full.acc_class_il) << method;
        EXPECT_EQ(resumed.acc_task_il, full.acc_task_il) << method;
      } else {
        EXPECT_NEAR(aaa(resumed.acc_class_il, resumed), aaa(full.acc_class_il, full), 5.0)
            << method;
      }
    }
  }
}

TEST(Gpu, ARequestedGpuThatIsNotThereIsAClearError_CUDA) {
  SKIP_WITHOUT_GPU();
  std::string out;
  const int code = testing::run_command(
      "CUDA_VISIBLE_DEVICES= " +
          testing::clbench_cmd("run -b synthetic -m finetune --device cuda --out " +
                               ::testing::TempDir() + "cuda-hidden"),
      out);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("no CUDA device is visible"), std::string::npos) << out;
}

#ifdef CLBENCH_WITH_NCCL
TEST(Nccl, OneRankCommunicatorReducesAndBroadcasts_CUDA) {
  SKIP_WITHOUT_GPU();
  NcclComm nccl(/*rank=*/0, /*size=*/1, /*local_rank=*/0);
  for (const auto dtype : {torch::kFloat32, torch::kFloat64, torch::kBFloat16, torch::kInt64}) {
    auto t = torch::arange(1000, torch::TensorOptions().dtype(dtype).device(torch::kCUDA));
    const auto before = t.clone();
    nccl.allreduce_sum(t);
    nccl.broadcast(t, 0);
    EXPECT_TRUE(torch::equal(t.cpu(), before.cpu())) << dtype;
  }
  auto bad = torch::zeros({4}, torch::TensorOptions().dtype(torch::kBool).device(torch::kCUDA));
  EXPECT_THROW(nccl.allreduce_sum(bad), Error);
}
#endif

}  // namespace
}  // namespace clbench
