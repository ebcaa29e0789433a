// The checks every registered method must pass, on every tiny backbone it declares
// (tests/common/conformance.h): a checkpoint round trip, and a run stopped inside a task (inside
// a fit of begin_task, and inside the training) that resumes to bitwise the uninterrupted state.
// Two ranks against one: tests/mpi/test_distributed.cpp; the GPU: the *_CUDA test below.
#include <cmath>
#include <filesystem>
#include <optional>
#include <set>
#include <tuple>

#include <gtest/gtest.h>

#include "harness/distributed/cuda_library.h"
#include "harness/engine/checkpoint.h"
#include "harness/engine/progress.h"
#include "harness/foundation/error.h"
#include "harness/foundation/stop_point.h"
#include "support.h"
#include "tests/common/accuracy_bits.h"
#include "tests/common/conformance.h"

namespace clbench {
namespace {

using testing::ConformanceCase;
using testing::kConformancePollsBeforeTask2;

struct Trained {
  StreamRecord record;
  std::string state;      // capture_state of the model and method at the end
  torch::Tensor weights;  // the model's and the method's trainable parameters, flat, on the CPU
};

// Trains a case, polling `stop` for a stop request; with `inside_steps` also between the model's
// blocks, as the command line does; with `resume` it continues from `ckpt`. `overrides` replace
// keys of the case's configuration.
Trained train_polling(const ConformanceCase& c, const std::string& ckpt, bool resume,
                      std::function<bool()> stop, bool inside_steps,
                      const nlohmann::json& overrides = nlohmann::json::object()) {
  auto user = testing::conformance_config(c);
  if (!overrides.is_null()) user.update(overrides);  // `{}` is null
  const auto plan = testing::plan(user);
  LocalCommunicator comm;
  auto s = build_session(plan, comm);
  Progress quiet(false, false);
  std::optional<Checkpoint> from;
  if (resume) from = Checkpoint::load(ckpt, s->trainer.run->device);
  if (resume && !from) throw Error("no checkpoint at " + ckpt);
  TrainerControl control;
  control.steps = s->steps;
  control.steps.stop_requested = std::move(stop);
  control.steps.stop_inside_steps = inside_steps;
  control.save = [&](CheckpointContent content) {
    content.config_json = "{}";
    write_checkpoint(ckpt, content);
  };
  auto rec = train_stream(s->stream, *s->method, s->model, *s->services, comm, s->trainer, quiet,
                          from ? &*from : nullptr, control);
  std::vector<torch::Tensor> flat;
  for (const auto& p : s->model->parameters()) flat.push_back(p.detach().reshape({-1}).cpu());
  // Adapters, magnitudes and columns may live outside the model.
  for (const auto& p : s->method->trainable_parameters())
    flat.push_back(p.detach().reshape({-1}).cpu());
  return {rec, capture_state(*s->model, *s->method), torch::cat(flat)};
}

// Trains a case; with stop_at > 0 the run stops at that poll of the stop signal (throwing
// Interrupted after its checkpoint); with `resume` it continues from `ckpt`.
// `polled`, if given, counts the polls.
Trained train(const ConformanceCase& c, const std::string& ckpt, int stop_at, bool resume,
              const nlohmann::json& overrides = nlohmann::json::object(), int* polled = nullptr) {
  int polls = 0;
  const auto stop = [&] { return ++polls == stop_at && stop_at > 0; };
  auto trained = train_polling(c, ckpt, resume, stop, false, overrides);
  if (polled) *polled = polls;
  return trained;
}

// The case's configuration with its learning rate halved.
nlohmann::json halved_lr(const ConformanceCase& c) {
  return {{"lr", testing::plan(testing::conformance_config(c)).config.num("lr") / 2}};
}

// A stop at poll `wanted`, or at the run's last poll but one for a run that polls fewer times (a
// method that trains nothing, such as SimpleCIL, polls only in its sums and evaluations).
int stop_within(int wanted, int polls) {
  return std::min(wanted, polls - 1);
}

std::string checkpoint_file(const std::string& tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "-" + info->name() + "-" + tag;
  for (auto& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return ::testing::TempDir() + name + ".ckpt";
}

class Conformance : public ::testing::TestWithParam<ConformanceCase> {};

TEST_P(Conformance, StoppedInsideATaskResumesToTheUninterruptedStateBitwise) {
  int polls = 0;
  const auto reference = train(GetParam(), checkpoint_file("reference"), 0, false, {}, &polls);
  // Inside the training of task 1, in the evaluation after it, at the first poll of task 2 (in a
  // fit or a sum over samples of begin_task where the method has one) and later in task 2.
  std::set<int> stops;
  for (int wanted : {4, kConformancePollsBeforeTask2 - 1, kConformancePollsBeforeTask2 + 1,
                     kConformancePollsBeforeTask2 + 5}) {
    stops.insert(stop_within(wanted, polls));
  }
  ASSERT_GE(stops.size(), 2u) << "the run polls only " << polls << " times";
  for (int stop : stops) {
    const auto ckpt = checkpoint_file(std::to_string(stop));
    EXPECT_THROW(train(GetParam(), ckpt, stop, false), Interrupted) << "stop at " << stop;
    const auto resumed = train(GetParam(), ckpt, 0, true);
    EXPECT_EQ(testing::bits(resumed.record.class_il), testing::bits(reference.record.class_il))
        << "stop at " << stop;
    EXPECT_EQ(testing::bits(resumed.record.task_il), testing::bits(reference.record.task_il))
        << "stop at " << stop;
    EXPECT_EQ(resumed.record.trainable_params, reference.record.trainable_params);
    EXPECT_EQ(resumed.record.stored_params, reference.record.stored_params);
    EXPECT_TRUE(resumed.state == reference.state)
        << "stop at " << stop << ": the resumed model or method state differs";
    std::filesystem::remove(ckpt);
  }
}

TEST_P(Conformance, CheckpointStateLoadsIntoAFreshSessionAndSavesTheSame) {
  const auto ckpt = checkpoint_file("roundtrip");
  int polls = 0;
  bool stopped = false;
  try {
    train(GetParam(), ckpt, kConformancePollsBeforeTask2 + 4, false, {}, &polls);
  } catch (const Interrupted&) {
    stopped = true;
  }
  if (!stopped) {  // a run that polls fewer times: stopped at its last poll but one
    EXPECT_THROW(
        train(GetParam(), ckpt, stop_within(kConformancePollsBeforeTask2 + 4, polls), false),
        Interrupted);
  }
  const auto checkpoint = Checkpoint::load(ckpt, torch::kCPU);
  ASSERT_TRUE(checkpoint.has_value());
  for (const std::string* snapshot : {&checkpoint->task_start, &checkpoint->current}) {
    if (snapshot->empty()) continue;  // a stop inside a fit has no current state
    auto fresh = testing::setup(testing::conformance_config(GetParam()));
    restore_state(*snapshot, *fresh->model, *fresh->method, torch::kCPU);
    EXPECT_TRUE(capture_state(*fresh->model, *fresh->method) == *snapshot)
        << (snapshot == &checkpoint->current ? "current" : "task start")
        << " state: load then save changes it";
  }
  std::filesystem::remove(ckpt);
}

// bf16 autocast: the method trains (its forward, loss and updates work on bf16 activations) to
// finite accuracies, with the parameter counts of FP32, and the numbers are not FP32's. ResNet
// convolutions in bf16 are slow on CPUs: checked for the methods that have no other backbone (the
// CNN cases cover bf16 convolutions for the others). One epoch a task (3 steps): a processor
// without AVX-512 multiplies bf16 matrices in ATen's scalar fallback, 9 times FP32's time on the
// ViT, and a step shows what an epoch does.
TEST_P(Conformance, TrainsUnderBf16Autocast) {
  const auto& kinds = find_method(GetParam().method).requirements.backbone_kinds;
  if (GetParam().backbone == "resnet-tiny" && kinds.size() != 1)
    GTEST_SKIP() << "bf16 on the ResNet: covered by the CNN case and CLR";
  const auto fp32 = train(GetParam(), checkpoint_file("fp32"), 0, false, {{"epochs", 1}});
  const auto bf16 =
      train(GetParam(), checkpoint_file("bf16"), 0, false, {{"epochs", 1}, {"precision", "bf16"}});
  EXPECT_EQ(bf16.record.trainable_params, fp32.record.trainable_params);
  EXPECT_EQ(bf16.record.stored_params, fp32.record.stored_params);
  for (const auto* R : {&bf16.record.class_il, &bf16.record.task_il}) {
    for (const auto& row : *R) {
      for (double a : row) {
        EXPECT_TRUE(std::isfinite(a) && a >= 0 && a <= 100) << a;
      }
    }
  }
  const auto& trained = fp32.record.trainable_params;
  if (std::any_of(trained.begin(), trained.end(), [](int64_t n) { return n > 0; })) {
    EXPECT_FALSE(bf16.state == fp32.state)
        << "bf16 trained exactly as FP32: autocast did not apply";
  }
}

// Both runs start from the same bits (every initial value comes from a CPU generator, the batches
// are drawn and augmented on the CPU), and the GPU's kernels (cuBLAS, cuDNN, fused optimizers) add
// in other orders than the CPU's, which training magnifies. So the GPU run's parameters after the
// whole tiny run are measured, as the rank checks measure theirs, against what a real change of
// the arithmetic does to the CPU run: halving the learning rate (a gradient or an update wrong on
// the GPU is of that size, rounding stays far below 1% of it: testing::within_rounding_of). The
// test sets are 20 samples a task, so accuracies (5 points a sample) could not tell the two apart.
TEST_P(Conformance, GpuRunMatchesTheCpuRun_CUDA) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const nlohmann::json cuda = {{"device", "cuda"}};
  const auto cpu = train(GetParam(), checkpoint_file("cpu"), 0, false);
  int polls = 0;
  const auto gpu = train(GetParam(), checkpoint_file("gpu"), 0, false, cuda, &polls);
  const auto halved = train(GetParam(), checkpoint_file("halved"), 0, false, halved_lr(GetParam()));
  EXPECT_EQ(gpu.record.trainable_params, cpu.record.trainable_params);
  EXPECT_EQ(gpu.record.stored_params, cpu.record.stored_params);
  EXPECT_TRUE(testing::within_rounding_of(gpu.weights, cpu.weights, halved.weights));
  // Resumed on the GPU from a GPU checkpoint: bitwise the uninterrupted GPU run.
  const auto ckpt = checkpoint_file("gpu-stop");
  EXPECT_THROW(
      train(GetParam(), ckpt, stop_within(kConformancePollsBeforeTask2 + 2, polls), false, cuda),
      Interrupted);
  EXPECT_TRUE(train(GetParam(), ckpt, 0, true, cuda).state == gpu.state);
}

INSTANTIATE_TEST_SUITE_P(Registered, Conformance, ::testing::ValuesIn(testing::conformance_cases()),
                         testing::case_name);

TEST(ConformanceCases, EveryMethodOnEveryTinyBackboneItDeclares) {
  const auto cases = testing::conformance_cases();
  size_t expected = 0;
  for (const auto& m : methods()) {
    size_t mine = 0;
    for (const auto& b : backbones()) mine += b.tiny && testing::method_accepts(m, b) ? 1 : 0;
    EXPECT_GE(mine, 1u) << m.name << " has no tiny backbone of a kind it accepts";
    expected += mine;
  }
  EXPECT_EQ(cases.size(), expected);
  // And every case is instantiated with each check.
  const auto* unit = ::testing::UnitTest::GetInstance();
  int instantiated = -1;
  for (int i = 0; i < unit->total_test_suite_count(); ++i) {
    const auto* suite = unit->GetTestSuite(i);
    if (std::string(suite->name()) == "Registered/Conformance") {
      instantiated = suite->total_test_count();
    }
  }
  EXPECT_EQ(instantiated, static_cast<int>(4 * expected));
}

// The first poll of task 2 falls inside FM-LoRA's DRS warm-up (a fit of its begin_task): the
// checkpoint records the fit, and the resumed run continues it.
TEST(ConformanceFits, FmLoraStoppedInsideItsWarmupFitResumesIt) {
  const ConformanceCase c{"fm-lora", "vit-tiny28"};
  const auto ckpt = checkpoint_file("fit");
  EXPECT_THROW(train(c, ckpt, kConformancePollsBeforeTask2 + 1, false), Interrupted);
  const auto checkpoint = Checkpoint::load(ckpt, torch::kCPU);
  ASSERT_TRUE(checkpoint.has_value());
  EXPECT_EQ(checkpoint->state.task, 1);
  EXPECT_EQ(checkpoint->state.stage, kBeginTask);
  EXPECT_EQ(checkpoint->state.fit, 0);
  ASSERT_TRUE(checkpoint->fit().has_value());
  EXPECT_EQ(checkpoint->fit()->name, "drs-warmup");
  EXPECT_EQ(checkpoint->fit()->next_step, 1);
  EXPECT_TRUE(train(c, ckpt, 0, true).state == train(c, checkpoint_file("ref"), 0, false).state);
}

// HiDe-Prompt's end of task runs three fits (its task-identity classifier, then from task 2 on
// the alignment of that classifier and of the head); a stop inside any of them resumes it. The
// polls of task 1: 2 evaluation batches, 6 steps, 2 sums (the prompted and the frozen features),
// 3 task-identity steps, 2 evaluation batches; task 2 adds 2 steps of each alignment.
TEST(ConformanceFits, HidePromptStoppedInsideEachOfItsStagesResumesIt) {
  const ConformanceCase c{"hide-prompt", "vit-tiny28"};
  const auto reference = train(c, checkpoint_file("hide-ref"), 0, false).state;
  const int task2 = 2 + 6 + 2 + 3 + 2;
  for (const auto& [poll, task, fit] : {std::tuple{2 + 6 + 2 + 1, 0, "task-identity"},
                                        {task2 + 6 + 2 + 3 + 1, 1, "tii-alignment"},
                                        {task2 + 6 + 2 + 3 + 2 + 1, 1, "classifier-alignment"}}) {
    const auto ckpt = checkpoint_file(std::string("hide-") + fit);
    EXPECT_THROW(train(c, ckpt, poll, false), Interrupted) << fit;
    const auto checkpoint = Checkpoint::load(ckpt, torch::kCPU);
    ASSERT_TRUE(checkpoint.has_value()) << fit;
    EXPECT_EQ(checkpoint->state.task, task) << fit;
    EXPECT_EQ(checkpoint->state.stage, kEndTask) << fit;
    ASSERT_TRUE(checkpoint->fit().has_value()) << fit;
    EXPECT_EQ(checkpoint->fit()->name, fit);
    EXPECT_EQ(checkpoint->fit()->next_step, 1) << fit;
    EXPECT_TRUE(train(c, ckpt, 0, true).state == reference) << "resumed inside " << fit;
  }
}

}  // namespace
}  // namespace clbench

namespace clbench {
namespace {

// Polls for a stop as the command line's signal flag reads, and counts the polls made between the
// model's blocks in runs: one run per training step or evaluation batch (its polls from the first
// block to the last).
struct BlockPolls {
  explicit BlockPolls(int run = -1, int poll = 0) : stop_run(run), stop_poll(poll) {}
  int stop_run, stop_poll;  // stop at this poll of this run (-1: never)
  std::vector<int> runs;
  int in_run = 0;
  bool stopped = false, stopped_inside = false;
  bool operator()() {
    if (!stop_points_open()) {
      if (in_run > 0) runs.push_back(in_run);
      in_run = 0;
      return stopped;
    }
    ++in_run;
    if (!stopped && static_cast<int>(runs.size()) == stop_run && in_run == stop_poll) {
      stopped = stopped_inside = true;
    }
    return stopped;
  }
  // The index of the n-th run of `length` polls (-1 if none).
  int nth_run_of(int n, int length) const {
    for (size_t i = 0; i < runs.size(); ++i) {
      if (runs[i] == length && --n == 0) return static_cast<int>(i);
    }
    return -1;
  }
};

Checkpoint stopped_checkpoint(const ConformanceCase& c, const std::string& ckpt, BlockPolls stop) {
  EXPECT_THROW(train_polling(c, ckpt, false, std::ref(stop), true), Interrupted);
  EXPECT_TRUE(stop.stopped_inside) << "the stop was not taken between blocks";
  auto checkpoint = Checkpoint::load(ckpt, torch::kCPU);
  if (!checkpoint) throw Error("no checkpoint at " + ckpt);
  return std::move(*checkpoint);
}

// With one rank the command line also polls between the model's blocks, so a stop arrives within
// a block's forward or backward on slow backbones; the half-done step or evaluation batch is
// abandoned and the resumed run is bitwise the uninterrupted one. The ViT has 4 blocks: a training
// step polls 4 times in the forward and 4 in the backward (gradient hooks), an evaluation batch 4
// times. The ResNet's stages have batch norms, whose running statistics of the abandoned forward
// must not be kept.
TEST(StopInsideSteps, AStopBetweenBlocksAbandonsTheStepAndResumesBitwise) {
  const auto ckpt = checkpoint_file("inside");
  {
    const ConformanceCase c{"finetune", "vit-tiny28"};
    BlockPolls count;
    const auto reference = train_polling(c, ckpt, false, std::ref(count), true);
    int steps = 0;
    for (int n : count.runs) {
      EXPECT_TRUE(n == 8 || n == 4) << n << " polls: not a step (8) nor an evaluation batch (4)";
      steps += n == 8 ? 1 : 0;
    }
    EXPECT_EQ(steps, 2 * testing::kConformanceStepsPerTask);
    const int fourth_step = count.nth_run_of(4, 8);
    for (int poll : {2, 7}) {  // in the forward of task 1's step 4, in its backward
      const auto checkpoint = stopped_checkpoint(c, ckpt, BlockPolls(fourth_step, poll));
      // 3 steps per epoch: step 4 is epoch 2's first, and is done again on resume.
      EXPECT_EQ(checkpoint.state.stage, kTrain);
      EXPECT_EQ(checkpoint.state.epoch, 1);
      EXPECT_EQ(checkpoint.state.step, 0) << "the abandoned step was counted";
      EXPECT_TRUE(train(c, ckpt, 0, true).state == reference.state) << "poll " << poll;
    }
    // Inside the first evaluation batch after task 1 (run 2 of 4 polls comes after the steps).
    const int after_task = count.nth_run_of(3, 4);
    ASSERT_GT(after_task, count.nth_run_of(6, 8));
    stopped_checkpoint(c, ckpt, BlockPolls(after_task, 2));
    EXPECT_TRUE(train(c, ckpt, 0, true).state == reference.state) << "stopped in an evaluation";
  }
  {
    const ConformanceCase c{"er", "resnet-tiny"};
    BlockPolls count;
    const auto reference = train_polling(c, ckpt, false, std::ref(count), true);
    int longest = 0;
    for (int n : count.runs) longest = std::max(longest, n);
    stopped_checkpoint(c, ckpt, BlockPolls(count.nth_run_of(8, longest), 2));
    EXPECT_TRUE(train(c, ckpt, 0, true).state == reference.state);
  }
  std::filesystem::remove(ckpt);
}

}  // namespace
}  // namespace clbench
