// The trainer's contract with every method: train mode while training, eval mode while
// evaluating (a toy model with batch norm), the task id only for methods that declare it, and
// uneven task splits end to end; the step loop's prefetch, which loads one batch ahead.
#include <algorithm>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "datasets/loader.h"
#include "harness/engine/progress.h"
#include "harness/foundation/error.h"
#include "harness/models/mlp.h"
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

// ---- the step loop's prefetch (datasets/loader.h) ----

// What a loop did, in order: "L3>" load(3) started, "L3<" ended, "U3>" / "U3<" the same for use.
struct Trace {
  std::mutex mutex;
  std::vector<std::string> events;
  std::set<std::thread::id> loaders;
  void add(const std::string& e) {
    std::lock_guard<std::mutex> lock(mutex);
    events.push_back(e);
  }
  size_t at(const std::string& e) const {
    return static_cast<size_t>(std::find(events.begin(), events.end(), e) - events.begin());
  }
};

std::function<int(int64_t)> traced_load(Trace& trace, int64_t throw_at = -1) {
  return [&trace, throw_at](int64_t k) {
    trace.add("L" + std::to_string(k) + ">");
    {
      std::lock_guard<std::mutex> lock(trace.mutex);
      trace.loaders.insert(std::this_thread::get_id());
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200 * (k % 3)));
    if (k == throw_at) throw Error("load " + std::to_string(k));
    trace.add("L" + std::to_string(k) + "<");
    return static_cast<int>(10 * k);
  };
}

TEST(Prefetch, LoadsOneAheadOnOneThreadAndNeverBeforeThePreviousUseReturned) {
  for (const bool background : {false, true}) {
    Trace trace;
    std::vector<int> used;
    const int64_t n = 12;
    for_each_prefetched<int>(n, background, traced_load(trace), [&](int& item) {
      trace.add("U" + std::to_string(item / 10) + ">");
      std::this_thread::sleep_for(std::chrono::microseconds(150 * (item % 4)));
      used.push_back(item);
      trace.add("U" + std::to_string(item / 10) + "<");
    });
    std::vector<int> expected;
    for (int64_t k = 0; k < n; ++k) expected.push_back(static_cast<int>(10 * k));
    EXPECT_EQ(used, expected) << "background " << background;
    ASSERT_EQ(trace.events.size(), 4u * n);
    for (int64_t k = 1; k < n; ++k) {
      const auto K = std::to_string(k), P = std::to_string(k - 1);
      EXPECT_GT(trace.at("L" + K + ">"), trace.at("L" + P + "<")) << k;  // one load at a time
      EXPECT_GT(trace.at("U" + K + ">"), trace.at("L" + K + "<")) << k;
      if (k >= 2) {  // the serial loop's state: use(k - 2) has returned
        EXPECT_GT(trace.at("L" + K + ">"), trace.at("U" + std::to_string(k - 2) + "<")) << k;
      }
    }
    EXPECT_EQ(trace.loaders.size(), 1u) << "one thread serves the loop";
    EXPECT_EQ(*trace.loaders.begin() == std::this_thread::get_id(), !background);
  }
}

TEST(Prefetch, AnExceptionOnEitherSideEndsTheLoopAndReachesTheCaller) {
  Trace trace;
  std::vector<int> used;
  EXPECT_THROW(for_each_prefetched<int>(10, true, traced_load(trace, 4),
                                        [&](int& item) { used.push_back(item); }),
               Error);
  EXPECT_EQ(used, (std::vector<int>{0, 10, 20, 30}));
  int uses = 0;
  EXPECT_THROW(for_each_prefetched<int>(10, true, traced_load(trace),
                                        [&](int& item) {
                                          ++uses;
                                          if (item == 20) throw Error("use");
                                        }),
               Error);
  EXPECT_EQ(uses, 3);
}

// Attaches `method` to `model` on the setup's stream, with `services` as the harness's.
void attach(Method& method, Classifier model, const testing::Setup& s, MethodServices& services) {
  MethodContext ctx;
  ctx.model = std::move(model);
  ctx.services = &services;
  ctx.stream = s.stream;
  method.attach(ctx);
}

TEST(Trainer, BatchNormTrainsInTrainModeAndIsEvaluatedInEvalMode) {
  auto s = testing::setup({{"benchmark", "synthetic"}, {"synthetic.classes", 4}, {"threads", 1}});
  const auto shape = s->stream->input_shape();
  Classifier model(std::make_shared<ToyBnImpl>(shape[0] * shape[1] * shape[2]), 4);
  EngineServices services(s->comm, *s->stream, model, s->session->trainer.run, StepControl{});
  ModeProbe probe;
  attach(probe, model, *s, services);
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

// Method::model_logits, the service behind DER's one forward of its three batches.
class LogitsProbe : public Method {
 public:
  using Method::model_logits;
};

// Without batch norm the batches go through one forward (the same function: equal to one forward
// each up to float32 rounding, relative gaps near 1e-7 against a bound of 1e-5); with it, one
// forward each, as a concatenated forward would normalise them together (which changes them).
TEST(ModelLogits, OneForwardWithoutBatchNormOneEachWithIt) {
  auto s = testing::setup({{"benchmark", "synthetic"}, {"synthetic.classes", 4}, {"threads", 1}});
  const auto shape = s->stream->input_shape();
  const int64_t in = shape[0] * shape[1] * shape[2];
  torch::manual_seed(5);
  const std::vector<torch::Tensor> xs{torch::randn({5, shape[0], shape[1], shape[2]}),
                                      torch::randn({3, shape[0], shape[1], shape[2]})};
  for (bool batch_norm : {false, true}) {
    SCOPED_TRACE(batch_norm);
    Classifier model(batch_norm ? std::shared_ptr<BackboneImpl>(std::make_shared<ToyBnImpl>(in))
                                : Mlp(MlpOptions(in).hidden(16)).ptr(),
                     4);
    model->train();
    EngineServices services(s->comm, *s->stream, model, s->session->trainer.run, StepControl{});
    LogitsProbe probe;
    attach(probe, model, *s, services);
    const auto logits = probe.model_logits(xs);
    const auto together = model->forward(torch::cat(xs)).split_with_sizes({5, 3});
    ASSERT_EQ(logits.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      const auto alone = model->forward(xs[i]);
      if (batch_norm) {
        EXPECT_TRUE(torch::equal(logits[i], alone));
        EXPECT_FALSE(torch::allclose(together[i], alone)) << "the check cannot tell";
      } else {
        EXPECT_TRUE(torch::equal(logits[i], together[i]));
        const double gap = ((logits[i] - alone).abs().max() / alone.abs().max()).item<double>();
        std::printf("[ margin ] batch %zu: relative gap %.3g to its own forward\n", i, gap);
        EXPECT_LT(gap, 1e-5);
      }
    }
  }
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
  attach(probe, s->model, *s, *s->session->services);
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
