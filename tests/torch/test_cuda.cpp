// GPU paths, named *_CUDA and skipped where no GPU is visible (CI and the build machine), and the
// loading of LibTorch's CUDA half that they rest on.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <gtest/gtest.h>

#include "datasets/batch.h"
#include "harness/distributed/cuda_library.h"
#include "harness/engine/progress.h"
#include "harness/foundation/error.h"
#include "methods/method.h"
#include "support.h"
#ifdef CLBENCH_WITH_NCCL
#include "harness/distributed/nccl.h"
#include "tests/common/accuracy_bits.h"
#endif

namespace clbench {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device"

// ---- LibTorch's CUDA half, loaded at start-up where a GPU can be used (cuda_library.h) ----

bool mapped(const char* soname) {
  void* h = dlopen(soname, RTLD_LAZY | RTLD_NOLOAD);
  if (h != nullptr) dlclose(h);
  return h != nullptr;
}

// Where the driver's library is there (a GPU machine) LibTorch's CUDA half is loaded, and it is not
// mapped at all where it is not (this machine, CI): no cuBLAS, no cuDNN, no NCCL in a CPU process.
TEST(CudaLibrary, IsLoadedExactlyWhereTheDriverIs) {
  const char* env = std::getenv("CLBENCH_CUDA");
  if (env != nullptr && *env != '\0') GTEST_SKIP() << "CLBENCH_CUDA is set";
  void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  EXPECT_EQ(cuda_library_loaded(), driver != nullptr) << cuda_library_absence();
  EXPECT_EQ(mapped("libtorch_cuda.so"), driver != nullptr);
  EXPECT_EQ(mapped("libcublas.so.13"), driver != nullptr);
  EXPECT_EQ(mapped("libnccl.so.2"), driver != nullptr);
  if (driver == nullptr) {
    EXPECT_FALSE(cuda_available());
    EXPECT_NE(cuda_library_absence().find("libcuda.so.1"), std::string::npos);
  }
}

// Run by the test below in a process of its own with CLBENCH_CUDA=1: the library loaded before
// main() registered LibTorch's CUDA hooks and kernels (the CUDA toolkit is on every build machine;
// without a driver no device is visible, and that is all).
TEST(CudaLibrary, LoadedOnRequestRegistersLibTorchsCudaHooksAndKernels) {
  const char* env = std::getenv("CLBENCH_CUDA");
  if (env == nullptr || std::string(env) != "1") GTEST_SKIP() << "runs with CLBENCH_CUDA=1";
  ASSERT_TRUE(cuda_library_loaded()) << cuda_library_absence();
  EXPECT_TRUE(mapped("libtorch_cuda.so"));
  EXPECT_TRUE(at::detail::getCUDAHooks().isBuilt());
  const auto empty = c10::Dispatcher::singleton().findOp({"aten::empty", "memory_format"});
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->hasKernelForDispatchKey(c10::DispatchKey::CUDA));
#ifdef CLBENCH_WITH_NCCL
  // NCCL's entry points come from the library loaded with it: a one-rank communicator is made on a
  // GPU, and without one the failure is a clear error, past ncclGetUniqueId.
  try {
    NcclComm comm(0, 1, 0);
    EXPECT_TRUE(cuda_available());
  } catch (const Error& e) {
    EXPECT_FALSE(cuda_available()) << e.what();
    EXPECT_NE(std::string(e.what()).find("GPU 0"), std::string::npos) << e.what();
  }
#endif
}

TEST(CudaLibrary, CanBeLoadedOnRequest) {
  const char* env = std::getenv("CLBENCH_CUDA");
  if (env != nullptr && *env != '\0') GTEST_SKIP() << "CLBENCH_CUDA is set";
  std::string out;
  const int code = testing::run_command(
      "CLBENCH_CUDA=1 /proc/" + std::to_string(getpid()) +
          "/exe --gtest_filter=CudaLibrary.LoadedOnRequestRegistersLibTorchsCudaHooksAndKernels",
      out);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("[  PASSED  ] 1 test"), std::string::npos) << out;
  EXPECT_EQ(out.find("SKIPPED"), std::string::npos) << out;
}

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
  for (const auto& [key, value] : find_method(method).tiny.items())
    user[method + "." + key] = value;
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

// Every precision trains the ViT (SD-LoRA) and the ResNet (channels_last) on the GPU like FP32:
// TF32 and autocast change the numbers by rounding only; fused optimizers on the GPU by default.
TEST(Gpu, EveryPrecisionTrainsLikeFp32_CUDA) {
  SKIP_WITHOUT_GPU();
  const auto resnet_run = [](const std::string& out) {
    return nlohmann::json{
        {"benchmark", "synthetic"},  {"method", "er"},
        {"backbone", "resnet-tiny"}, {"epochs", 2},
        {"device", "cuda"},          {"out", ::testing::TempDir() + "cuda-" + out}};
  };
  for (const std::string backbone : {"vit", "resnet"}) {
    const auto make = [&](const std::string& precision) {
      auto user = backbone == "vit" ? vit_run("sd-lora", "cuda", "sd-lora-" + precision)
                                    : resnet_run("resnet-" + precision);
      user["precision"] = precision;
      return user;
    };
    const auto exact = testing::run_quiet(make("fp32"));
    EXPECT_GT(aaa(exact.acc_task_il, exact), 60.0) << backbone;
    for (const std::string precision : {"tf32", "bf16", "fp16"}) {
      const auto fast = testing::run_quiet(make(precision));
      EXPECT_NEAR(aaa(fast.acc_task_il, fast), aaa(exact.acc_task_il, exact), 5.0)
          << backbone << " " << precision;
      EXPECT_NEAR(aaa(fast.acc_class_il, fast), aaa(exact.acc_class_il, exact), 5.0)
          << backbone << " " << precision;
    }
  }
}

// Fused and plain optimizers on the GPU: the same run up to rounding.
TEST(Gpu, FusedOptimizersTrainLikePlainOnes_CUDA) {
  SKIP_WITHOUT_GPU();
  auto fused = vit_run("sd-lora", "cuda", "sd-lora-fused");
  fused["optimizer_kernels"] = "fused";
  auto plain = vit_run("sd-lora", "cuda", "sd-lora-plain");
  plain["optimizer_kernels"] = "plain";
  const auto a = testing::run_quiet(fused), b = testing::run_quiet(plain);
  EXPECT_NEAR(aaa(a.acc_task_il, a), aaa(b.acc_task_il, b), 2.0);
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
        EXPECT_EQ(testing::bits(resumed.acc_class_il), testing::bits(full.acc_class_il)) << method;
        EXPECT_EQ(testing::bits(resumed.acc_task_il), testing::bits(full.acc_task_il)) << method;
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

// The overlapped path's sum runs on NCCL's own stream after the work queued before it, and work
// queued after wait() sees it.
TEST(Nccl, AStartedSumOrdersAfterTheProducerAndBeforeTheConsumer_CUDA) {
  SKIP_WITHOUT_GPU();
  NcclComm nccl(0, 1, 0);
  auto t = torch::zeros({1 << 22}, torch::TensorOptions().device(torch::kCUDA));
  t.add_(3.0);  // queued on the current stream before the sum starts
  auto pending = nccl.start_allreduce_sum(t);
  pending->wait();
  EXPECT_EQ((t * 2).sum().item<double>(), 6.0 * (1 << 22));
}
#endif

// Batches reach the GPU from pinned memory on the loader's side stream: the same values as the
// CPU batch, usable at once on the training stream.
TEST(Gpu, BatchesCopiedOnASideStreamMatchTheCpuBatches_CUDA) {
  SKIP_WITHOUT_GPU();
  auto cpu = testing::setup({{"benchmark", "synthetic"}, {"method", "finetune"}});
  const auto& stream = *cpu->stream;
  const auto& samples = stream.tasks[0].train;
  const std::vector<int64_t> some(samples.begin(), samples.begin() + 32);
  for (const std::optional<uint64_t> augment :
       {std::optional<uint64_t>(), std::optional<uint64_t>(5)}) {
    const Batch on_cpu = load_batch(stream, *stream.train_set, some, 32, 1, 0, augment);
    const Batch on_gpu =
        load_batch(stream, *stream.train_set, some, 32, 1, 0, augment, torch::kCUDA);
    EXPECT_TRUE(on_gpu.x.is_cuda());
    EXPECT_TRUE(torch::equal(on_gpu.x.cpu(), on_cpu.x));
    EXPECT_TRUE(torch::equal(on_gpu.y.cpu(), on_cpu.y));
  }
}

}  // namespace
}  // namespace clbench
