// The trainer's contract with every method: train mode while training, eval mode while
// evaluating (a toy model with batch norm), the task id only for methods that declare it, and
// uneven task splits end to end.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "harness/engine/progress.h"
#include "harness/foundation/error.h"
#include "support.h"
#include "tests/common/accuracy_bits.h"

namespace clbench {
namespace {

// Flattened pixels -> Linear -> BatchNorm1d -> ReLU.
struct ToyBnImpl : BackboneImpl {
  explicit ToyBnImpl(int64_t in) {
    fc = register_module("fc", torch::nn::Linear(in, 16));
    bn = register_module("bn", torch::nn::BatchNorm1d(16));
  }
  torch::Tensor forward(const torch::Tensor& images) override {
    return torch::relu(bn->forward(fc->forward(images.flatten(1))));
  }
  int64_t feature_dim() const override { return 16; }
  torch::nn::Linear fc{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
};

// Records the mode of the model and of its batch norm at every loss and every evaluation.
class ModeProbe : public Method {
 public:
  torch::Tensor loss(const Batch& batch) override {
    train_calls.push_back(ctx_.model->is_training() && bn().is_training());
    return Method::loss(batch);
  }
  torch::Tensor logits(const Batch& batch) override {
    eval_calls.push_back(!ctx_.model->is_training() && !bn().is_training());
    tasks.push_back(batch.task.value_or(-1));
    return Method::logits(batch);
  }
  void after_step() override { running_mean = bn().running_mean.clone(); }
  torch::nn::BatchNorm1dImpl& bn() {
    return *std::dynamic_pointer_cast<ToyBnImpl>(ctx_.model->backbone)->bn;
  }
  std::vector<bool> train_calls, eval_calls;
  std::vector<int> tasks;
  torch::Tensor running_mean;  // after the last training step
};

TEST(Trainer, BatchNormTrainsInTrainModeAndIsEvaluatedInEvalMode) {
  auto s = testing::setup({{"benchmark", "synthetic"}, {"synthetic.classes", 4}, {"threads", 1}});
  const auto shape = s->stream->input_shape();
  Classifier model(std::make_shared<ToyBnImpl>(shape[0] * shape[1] * shape[2]), 4);
  EngineServices services(s->comm, *s->stream, model, s->session->trainer.run, StepControl{});
  ModeProbe probe;
  MethodContext ctx;
  ctx.model = model;
  ctx.services = &services;
  ctx.stream = s->stream;
  probe.attach(ctx);
  const auto initial_mean = probe.bn().running_mean.clone();
  Progress quiet(false, false);
  train_stream(*s->stream, probe, model, services, s->comm, s->session->trainer, quiet);
  ASSERT_FALSE(probe.train_calls.empty());
  ASSERT_FALSE(probe.eval_calls.empty());
  for (bool training : probe.train_calls) EXPECT_TRUE(training);
  for (bool evaluating : probe.eval_calls) EXPECT_TRUE(evaluating);
  EXPECT_FALSE(torch::equal(probe.running_mean, initial_mean)) << "training updates the statistics";
  EXPECT_TRUE(torch::equal(probe.bn().running_mean, probe.running_mean))
      << "evaluation must not update them";
  for (int t : probe.tasks) EXPECT_EQ(t, -1) << "the task id is only given to methods that need it";
}

// Records the task id each evaluation batch carries.
class TaskIdProbe : public Method {
 public:
  torch::Tensor logits(const Batch& batch) override {
    tasks.push_back(batch.task.value_or(-1));
    return Method::logits(batch);
  }
  std::vector<int> tasks;
};

TEST(Trainer, TheTaskIdReachesMethodsThatDeclareThatTheyNeedIt) {
  auto s = testing::setup({{"benchmark", "synthetic"},
                           {"synthetic.classes", 4},
                           {"threads", 1},
                           {"scenario", "task-il"}});
  TaskIdProbe probe;
  MethodContext ctx;
  ctx.model = s->model;
  ctx.services = s->session->services.get();
  ctx.stream = s->stream;
  probe.attach(ctx);
  auto options = s->session->trainer;
  options.task_id_at_test = true;
  Progress quiet(false, false);
  train_stream(*s->stream, probe, s->model, *s->session->services, s->comm, options, quiet);
  ASSERT_FALSE(probe.tasks.empty());
  // The evaluation visits task 0's test set, then task 1's, before and after every task.
  EXPECT_EQ(probe.tasks.front(), 0);
  EXPECT_EQ(probe.tasks.back(), 1);
}

TEST(Trainer, UnevenSplitsRunEndToEnd) {
  // 10 classes: tasks of 4, 3, 3.
  const auto r = testing::run_quiet({{"benchmark", "synthetic"},
                                     {"method", "er"},
                                     {"init_classes", 4},
                                     {"increment", 3},
                                     {"epochs", 1}});
  ASSERT_EQ(r.task_classes.size(), 3u);
  EXPECT_EQ(r.task_classes[0].size(), 4u);
  EXPECT_EQ(r.task_classes[1].size(), 3u);
  EXPECT_EQ(r.task_classes[2].size(), 3u);
  EXPECT_EQ(r.acc_class_il.size(), 3u);
  EXPECT_EQ(r.test_counts[0], 4 * 40);
  // 10 classes in tasks of 3: the last task takes the remaining one.
  const auto s = testing::setup({{"benchmark", "synthetic"}, {"increment", 3}});
  ASSERT_EQ(s->stream->num_tasks(), 4);
  EXPECT_EQ(s->stream->tasks[3].classes.size(), 1u);
  EXPECT_THROW(testing::setup({{"benchmark", "synthetic"}, {"init_classes", 11}}), Error);
}

}  // namespace
}  // namespace clbench

namespace clbench {
namespace {

// The loss of a run that blows up (lr 1e6), read every step or every `sync_every` steps: the
// message names the same first non-finite step either way, and the deferred one the window.
std::string divergence(int64_t sync_every) {
  try {
    testing::run_quiet(testing::synthetic_run(
        "finetune", 4, 40,
        {{"lr", 1e6}, {"epochs", 1}, {"batch_size", 8}, {"sync_every", sync_every}}));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Trainer, ADivergedLossReadEveryFewStepsStillNamesTheStepWhereItHappened) {
  const std::string every_step = divergence(1), every_fourth = divergence(4);
  ASSERT_NE(every_step.find("training diverged"), std::string::npos) << every_step;
  const auto at = every_step.find(" at task 1, epoch 1, step ");
  ASSERT_NE(at, std::string::npos) << every_step;
  const std::string where = every_step.substr(at, every_step.find(';') - at);
  EXPECT_NE(every_fourth.find(where), std::string::npos) << every_fourth << "\nvs " << every_step;
  EXPECT_NE(every_fourth.find("losses read after"), std::string::npos) << every_fourth;
  EXPECT_EQ(every_step.find("losses read after"), std::string::npos) << every_step;
}

TEST(Trainer, ReadingLossesEveryFewStepsChangesNoNumber) {
  auto user = testing::synthetic_run("er", 4, 40, {{"epochs", 1}, {"batch_size", 16}});
  const auto every_step = testing::run_quiet(user);
  user["sync_every"] = 5;
  const auto deferred = testing::run_quiet(user);
  EXPECT_EQ(testing::bits(deferred.acc_class_il), testing::bits(every_step.acc_class_il));
  EXPECT_EQ(deferred.fingerprint, every_step.fingerprint) << "a speed setting, not a result's";
}

}  // namespace
}  // namespace clbench
