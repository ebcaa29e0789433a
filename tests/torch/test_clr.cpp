// CLR (methods/clr.cpp): the identity at initialisation, zero forgetting by construction, and what
// it stores per task.
#include <algorithm>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "harness/models/backbones.h"
#include "support.h"

namespace clbench {
namespace {

nlohmann::json clr_run(const std::string& backbone, const std::string& variant = "reduced_v1") {
  return {{"benchmark", "synthetic"},
          {"method", "clr"},
          {"backbone", backbone},
          {"clr.variant", variant},
          {"epochs", 1},
          {"batch_size", 32},
          {"threads", 1},
          {"synthetic.classes", 6},
          {"synthetic.train_per_class", 40},
          {"synthetic.test_per_class", 12}};
}

TEST(Clr, AtInitialisationItComputesExactlyTheFrozenBackbonesFeatures) {
  auto s = testing::setup(clr_run("resnet-tiny"));
  s->method->begin_task(s->stream->tasks[0]);
  // The same weights in a model without the reprogramming hook.
  auto reference =
      make_classifier("resnet-tiny", s->stream->input_shape(), s->stream->num_classes());
  copy_weights(*reference, *s->model);
  torch::NoGradGuard no_grad;
  const auto x = torch::rand({5, 1, 12, 12});
  for (bool train : {false, true}) {
    s->model->train(train);
    reference->train(train);
    EXPECT_TRUE(torch::equal(s->model->backbone->forward(x), reference->backbone->forward(x)))
        << (train ? "train" : "eval") << " mode";
  }
}

TEST(Clr, OldTasksColumnsOfTheTaskIlMatrixNeverChange) {
  const auto r = testing::run_quiet(clr_run("resnet-tiny"));
  const auto& R = r.acc_task_il;
  ASSERT_EQ(R.size(), 3u);
  for (size_t j = 0; j < R.size(); ++j) {
    for (size_t i = j + 1; i < R.size(); ++i) EXPECT_EQ(R[i][j], R[j][j]) << "task " << j;
  }
  EXPECT_EQ(r.task_il.forgetting, 0.0);
}

// Opt-in: each task keeps the epoch of its best test accuracy. Tasks train independently (frozen
// backbone, own program, constant lr here), so a run of e epochs is the first e epochs of a longer
// one, and the chosen accuracy is the best of the shorter runs' final ones.
TEST(Clr, SelectingTheBestEpochKeepsTheEpochOfTheBestTestAccuracy) {
  std::vector<Matrix> last;
  for (int epochs : {1, 2, 3}) {
    auto user = clr_run("resnet-tiny");
    user["epochs"] = epochs;
    last.push_back(testing::run_quiet(user).acc_task_il);
  }
  auto user = clr_run("resnet-tiny");
  user["epochs"] = 3;
  user["clr.select_best_epoch"] = true;
  const auto best = testing::run_quiet(user).acc_task_il;
  bool differs = false;
  for (size_t t = 0; t < best.size(); ++t) {
    const double want = std::max({last[0][t][t], last[1][t][t], last[2][t][t]});
    EXPECT_EQ(best[t][t], want) << "task " << t;
    differs = differs || want != last[2][t][t];
  }
  EXPECT_TRUE(differs) << "the last epoch was the best in every task: the test shows nothing";
}

// Per task on torchvision's ResNet-18: 3x3 depthwise kernels on the 3,904 channels of the non-1x1
// convolutions (and on the 896 downsample channels for CLR-Full, 1x1 ones for reduced_v2), the
// weight, bias, mean and variance of all 4,800 norm channels, and a 512 -> 2 head.
TEST(Clr, StoredParametersPerTaskFollowTheFormulaOnResNet18) {
  const int64_t norms = 4 * 4800, head = 512 * 2 + 2;
  EXPECT_EQ(9 * 3904, 35136);
  for (const auto& [variant, kernels] : std::vector<std::pair<std::string, int64_t>>{
           {"reduced_v1", 9 * 3904}, {"full", 9 * (3904 + 896)}, {"reduced_v2", 9 * 3904 + 896}}) {
    auto s = testing::setup(clr_run("resnet18", variant));
    EXPECT_EQ(s->method->stored_parameters(), 0) << variant;
    s->method->begin_task(s->stream->tasks[0]);
    EXPECT_EQ(s->method->stored_parameters(), kernels + norms + head) << variant;
    s->method->begin_task(s->stream->tasks[1]);
    EXPECT_EQ(s->method->stored_parameters(), 2 * (kernels + norms + head)) << variant;
    // What trains is the current task's kernels, norm weight and bias, and head.
    EXPECT_EQ(count_parameters(s->method->trainable_parameters()), kernels + 2 * 4800 + head);
  }
}

}  // namespace
}  // namespace clbench
