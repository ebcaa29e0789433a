// Each method's distinguishing behaviour, checked on its own state and losses.
#include <gtest/gtest.h>

#include "datasets/loader.h"
#include "harness/engine/progress.h"
#include "harness/engine/trainer.h"
#include "support.h"

namespace clbench {
namespace {

using testing::run_quiet;

using testing::setup;
using testing::Setup;

Batch first_batch(const TaskStream& stream, const Task& task, int64_t n) {
  std::vector<int64_t> idx(task.train.begin(), task.train.begin() + n);
  return load_batch(stream, *stream.train_set, idx, n, 1);
}

// Difference between a method's loss and plain fine-tuning's loss on the same model and batch.
double penalty(Setup& s, Method& plain, const Batch& b) {
  return (s.method->loss(b) - plain.loss(b)).item<double>();
}

void perturb(Classifier& model, double step) {
  torch::NoGradGuard g;
  for (auto& p : model->parameters()) p.add_(step);
}

std::unique_ptr<Method> plain_on(Setup& s) {
  auto plain = find_method("finetune").make(s.plan.config);
  MethodContext ctx;
  ctx.model = s.model;
  ctx.services = s.session->services.get();
  ctx.stream = s.stream;
  plain->attach(ctx);
  return plain;
}

TEST(Ewc, PenaltyIsZeroAtTheAnchorAndGrowsQuadraticallyAwayFromIt) {
  auto s = setup({{"benchmark", "synthetic"}, {"method", "ewc"}, {"ewc", {{"lambda", 10.0}}}});
  auto plain = plain_on(*s);
  const Task& t0 = s->stream->tasks[0];
  const Task& t1 = s->stream->tasks[1];
  s->method->begin_task(t0);
  s->method->end_task(t0);  // Fisher and anchor at the current weights
  s->method->begin_task(t1);
  plain->begin_task(t1);
  const Batch b = first_batch(*s->stream, t1, 16);
  EXPECT_NEAR(penalty(*s, *plain, b), 0.0, 1e-7);
  perturb(s->model, 0.01);
  const double small = penalty(*s, *plain, b);
  perturb(s->model, 0.01);  // now 0.02 away: (2x)^2 = 4x the penalty
  const double twice = penalty(*s, *plain, b);
  EXPECT_GT(small, 0.0);
  EXPECT_NEAR(twice / small, 4.0, 1e-3);
}

TEST(Ewc, OnlineKeepsOneAnchorWhileOfflineAddsOnePerTask) {
  for (bool online : {false, true}) {
    auto s = setup({{"benchmark", "synthetic"}, {"method", "ewc"}, {"ewc", {{"online", online}}}});
    auto plain = plain_on(*s);
    const auto& tasks = s->stream->tasks;
    for (int t = 0; t < 2; ++t) {
      s->method->begin_task(tasks[t]);
      s->method->end_task(tasks[t]);
    }
    // Both anchors sit at the same weights; moving away costs F1+F2 either way (gamma = 1), so the
    // two variants agree here, and differ once gamma < 1 (checked below).
    s->method->begin_task(tasks[2]);
    plain->begin_task(tasks[2]);
    perturb(s->model, 0.01);
    const Batch b = first_batch(*s->stream, tasks[2], 16);
    EXPECT_GT(penalty(*s, *plain, b), 0.0) << "online=" << online;
  }
  auto decayed = setup(
      {{"benchmark", "synthetic"}, {"method", "ewc"}, {"ewc", {{"online", true}, {"gamma", 0.0}}}});
  auto full = setup({{"benchmark", "synthetic"}, {"method", "ewc"}, {"ewc", {{"online", true}}}});
  double p[2];
  int k = 0;
  for (auto* s : {decayed.get(), full.get()}) {
    auto plain = plain_on(*s);
    const auto& tasks = s->stream->tasks;
    for (int t = 0; t < 2; ++t) {
      s->method->begin_task(tasks[t]);
      s->method->end_task(tasks[t]);
    }
    s->method->begin_task(tasks[2]);
    plain->begin_task(tasks[2]);
    perturb(s->model, 0.01);
    p[k++] = penalty(*s, *plain, first_batch(*s->stream, tasks[2], 16));
  }
  EXPECT_LT(p[0], p[1]);  // gamma = 0 forgets the first task's Fisher
}

TEST(Si, ImportanceComesOnlyFromTheTrainingPathAndPenalisesLeavingTheAnchor) {
  auto s = setup({{"benchmark", "synthetic"}, {"method", "si"}});
  auto plain = plain_on(*s);
  const auto& tasks = s->stream->tasks;
  // A task without any optimizer step leaves no importance: no penalty anywhere.
  s->method->begin_task(tasks[0]);
  s->method->end_task(tasks[0]);
  s->method->begin_task(tasks[1]);
  plain->begin_task(tasks[1]);
  perturb(s->model, 0.05);
  const Batch b = first_batch(*s->stream, tasks[1], 16);
  EXPECT_NEAR(penalty(*s, *plain, b), 0.0, 1e-9);

  // After real training the anchor is the end-of-task weights: zero there, positive away from it.
  auto trained = setup({{"benchmark", "synthetic"}, {"method", "si"}});
  auto plain2 = plain_on(*trained);
  Progress quiet(false, false);
  TrainerOptions o;
  RunContext run = *trained->session->trainer.run;
  run.epochs = 1;
  run.batch_size = 32;
  o.run = std::make_shared<const RunContext>(run);
  o.optimizer.lr = 0.05;
  TaskStream first_only = *trained->stream;
  first_only.tasks.resize(1);
  train_stream(first_only, *trained->method, trained->model, *trained->session->services,
               trained->comm, o, quiet);
  trained->method->begin_task(trained->stream->tasks[1]);
  plain2->begin_task(trained->stream->tasks[1]);
  const Batch b2 = first_batch(*trained->stream, trained->stream->tasks[1], 16);
  EXPECT_NEAR(penalty(*trained, *plain2, b2), 0.0, 1e-7);
  perturb(trained->model, 0.05);
  EXPECT_GT(penalty(*trained, *plain2, b2), 1e-6);
}

TEST(Lwf, DistillsTowardsAFrozenCopyOfTheModelAtTheEndOfTheTask) {
  auto s = setup({{"benchmark", "synthetic"}, {"method", "lwf"}});
  auto plain = plain_on(*s);
  const auto& tasks = s->stream->tasks;
  s->method->begin_task(tasks[0]);
  plain->begin_task(tasks[0]);
  const Batch b0 = first_batch(*s->stream, tasks[0], 16);
  EXPECT_NEAR(penalty(*s, *plain, b0), 0.0, 1e-9);  // no old model yet: plain cross-entropy
  s->method->end_task(tasks[0]);
  s->method->begin_task(tasks[1]);
  plain->begin_task(tasks[1]);
  const Batch b = first_batch(*s->stream, tasks[1], 16);
  // With the model equal to the old one, the distillation term is the entropy of the old
  // model's tempered outputs on the old classes (cross-entropy of p with itself).
  torch::Tensor old_logits;
  {
    torch::NoGradGuard g;
    old_logits = s->model->forward(b.x).narrow(1, 0, tasks[0].class_end) / 2.0;
  }
  const auto p = torch::softmax(old_logits, 1);
  const double entropy = (-(p * torch::log_softmax(old_logits, 1)).sum(1)).mean().item<double>();
  EXPECT_NEAR(penalty(*s, *plain, b), entropy, 1e-5);
  // Moving the model raises the distillation term (Gibbs' inequality) and leaves the old one be.
  perturb(s->model, 0.05);
  EXPECT_GT(penalty(*s, *plain, b), entropy);
}

TEST(Joint, TrainsOnTheUnionOfAllTasksSoFar) {
  auto s = setup({{"benchmark", "synthetic"}, {"method", "joint"}});
  const auto& tasks = s->stream->tasks;
  const auto idx = s->method->train_indices(tasks[2]);
  EXPECT_EQ(idx.size(), tasks[0].train.size() + tasks[1].train.size() + tasks[2].train.size());
  auto plain = plain_on(*s);
  EXPECT_EQ(plain->train_indices(tasks[2]).size(), tasks[2].train.size());
}

TEST(Er, ReplayReducesClassIncrementalForgettingOnSplitFashionMnist) {
  const auto finetune = run_quiet({{"method", "finetune"}, {"epochs", 1}});
  const auto er = run_quiet({{"method", "er"}, {"epochs", 1}});
  const double ft = final_accuracy(finetune.acc_class_il);
  const double replay = final_accuracy(er.acc_class_il);
  EXPECT_LT(ft, 25.0);  // fine-tuning forgets every earlier task in class-IL
  EXPECT_GT(replay, ft + 30.0);
  EXPECT_LT(forgetting(er.acc_class_il), forgetting(finetune.acc_class_il));
}

TEST(Ewc, ReducesTaskIncrementalForgettingOnSplitFashionMnist) {
  const auto finetune = run_quiet({{"method", "finetune"}, {"epochs", 1}});
  const auto ewc = run_quiet({{"method", "ewc"}, {"epochs", 1}});
  EXPECT_GT(final_accuracy(ewc.acc_task_il), final_accuracy(finetune.acc_task_il) + 5.0);
  EXPECT_LT(forgetting(ewc.acc_task_il), forgetting(finetune.acc_task_il));
}

}  // namespace
}  // namespace clbench
