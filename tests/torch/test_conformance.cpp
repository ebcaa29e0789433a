// The checks every registered method must pass, on every tiny backbone it declares
// (tests/common/conformance.h): a checkpoint round trip, and a run stopped inside a task (inside
// a fit of begin_task, and inside the training) that resumes to bitwise the uninterrupted state.
// Two ranks against one: tests/mpi/test_distributed.cpp; the GPU: the *_CUDA test below.
#include <cmath>
#include <filesystem>
#include <optional>

#include <gtest/gtest.h>

#include "harness/engine/checkpoint.h"
#include "harness/engine/progress.h"
#include "harness/foundation/error.h"
#include "support.h"
#include "tests/common/conformance.h"

namespace clbench {
namespace {

using testing::ConformanceCase;
using testing::kConformancePollsBeforeTask2;

struct Trained {
  StreamRecord record;
  std::string state;  // capture_state of the model and method at the end
};

// Trains a case; with stop_at > 0 the run stops after that many steps of this process (throwing
// Interrupted after its checkpoint); with `resume` it continues from `ckpt`.
Trained train(const ConformanceCase& c, const std::string& ckpt, int stop_at, bool resume,
              const std::string& device = "cpu", const std::string& precision = "fp32") {
  auto user = testing::conformance_config(c);
  user["device"] = device;
  user["precision"] = precision;
  const auto plan = testing::plan(user);
  LocalCommunicator comm;
  auto s = build_session(plan, comm);
  Progress quiet(false, false);
  std::optional<Checkpoint> from;
  if (resume) from = Checkpoint::load(ckpt, s->trainer.device);
  if (resume && !from) throw Error("no checkpoint at " + ckpt);
  TrainerControl control;
  control.steps = s->steps;
  int polls = 0;
  control.steps.stop_requested = [&] { return stop_at > 0 && ++polls == stop_at; };
  control.save = [&](CheckpointContent content) {
    content.config_json = "{}";
    write_checkpoint(ckpt, content);
  };
  auto rec = train_stream(s->stream, *s->method, s->model, *s->services, comm, s->trainer, quiet,
                          from ? &*from : nullptr, control);
  return {rec, capture_state(*s->model, *s->method)};
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
  const auto reference = train(GetParam(), checkpoint_file("reference"), 0, false);
  // Inside the training of task 1, in the evaluation after it, at the first poll of task 2 (in a
  // fit or a sum over samples of begin_task where the method has one) and later in task 2.
  for (int stop : {4, kConformancePollsBeforeTask2 - 1, kConformancePollsBeforeTask2 + 1,
                   kConformancePollsBeforeTask2 + 5}) {
    const auto ckpt = checkpoint_file(std::to_string(stop));
    EXPECT_THROW(train(GetParam(), ckpt, stop, false), Interrupted) << "stop at " << stop;
    const auto resumed = train(GetParam(), ckpt, 0, true);
    EXPECT_EQ(resumed.record.class_il, reference.record.class_il) << "stop at " << stop;
    EXPECT_EQ(resumed.record.task_il, reference.record.task_il) << "stop at " << stop;
    EXPECT_EQ(resumed.record.trainable_params, reference.record.trainable_params);
    EXPECT_EQ(resumed.record.stored_params, reference.record.stored_params);
    EXPECT_TRUE(resumed.state == reference.state)
        << "stop at " << stop << ": the resumed model or method state differs";
    std::filesystem::remove(ckpt);
  }
}

TEST_P(Conformance, CheckpointStateLoadsIntoAFreshSessionAndSavesTheSame) {
  const auto ckpt = checkpoint_file("roundtrip");
  EXPECT_THROW(train(GetParam(), ckpt, kConformancePollsBeforeTask2 + 4, false), Interrupted);
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
// CNN cases cover bf16 convolutions for the others).
TEST_P(Conformance, TrainsUnderBf16Autocast) {
  const auto& kinds = find_method(GetParam().method).requirements.backbone_kinds;
  if (GetParam().backbone == "resnet-tiny" && kinds.size() != 1)
    GTEST_SKIP() << "bf16 on the ResNet: covered by the CNN case and CLR";
  const auto fp32 = train(GetParam(), checkpoint_file("fp32"), 0, false);
  const auto bf16 = train(GetParam(), checkpoint_file("bf16"), 0, false, "cpu", "bf16");
  EXPECT_EQ(bf16.record.trainable_params, fp32.record.trainable_params);
  EXPECT_EQ(bf16.record.stored_params, fp32.record.stored_params);
  for (const auto* R : {&bf16.record.class_il, &bf16.record.task_il}) {
    for (const auto& row : *R) {
      for (double a : row) {
        EXPECT_TRUE(std::isfinite(a) && a >= 0 && a <= 100) << a;
      }
    }
  }
  EXPECT_FALSE(bf16.state == fp32.state) << "bf16 trained exactly as FP32: autocast did not apply";
}

TEST_P(Conformance, GpuRunMatchesTheCpuRun_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto cpu = train(GetParam(), checkpoint_file("cpu"), 0, false, "cpu");
  const auto gpu = train(GetParam(), checkpoint_file("gpu"), 0, false, "cuda");
  EXPECT_EQ(gpu.record.trainable_params, cpu.record.trainable_params);
  EXPECT_EQ(gpu.record.stored_params, cpu.record.stored_params);
  for (size_t i = 0; i < cpu.record.class_il.size(); ++i) {
    for (size_t j = 0; j < cpu.record.class_il[i].size(); ++j)
      EXPECT_NEAR(gpu.record.task_il[i][j], cpu.record.task_il[i][j], 30.0) << i << "," << j;
  }
  // Resumed on the GPU from a GPU checkpoint: bitwise the uninterrupted GPU run.
  const auto ckpt = checkpoint_file("gpu-stop");
  EXPECT_THROW(train(GetParam(), ckpt, kConformancePollsBeforeTask2 + 2, false, "cuda"),
               Interrupted);
  EXPECT_TRUE(train(GetParam(), ckpt, 0, true, "cuda").state == gpu.state);
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

}  // namespace
}  // namespace clbench
