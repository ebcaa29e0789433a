// What the adapter and prototype methods share: AdaptFormer's parallel adapter on the ViT's MLP
// branch, per-sample dropout, the cosine classifier and class-mean prototypes; and SimpleCIL, which
// is only the last two.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include "datasets/loader.h"
#include "harness/models/vit.h"
#include "methods/parallel_adapter.h"
#include "methods/prototypes/cosine_classifier.h"
#include "support.h"

namespace clbench::adapter_testing {
namespace {

using testing::setup;

Vit small_vit() {
  torch::manual_seed(5);
  return Vit(vit_preset("vit-tiny28"));
}

TEST(ParallelAdapter, AFreshAdapterSetLeavesTheFeaturesBitIdenticalWithAndWithoutDropout) {
  auto vit = small_vit();
  const auto images = torch::rand({6, 1, 28, 28});
  torch::NoGradGuard no_grad;
  const auto plain = vit->forward(images);
  auto gen = make_generator(0, 1);
  AdapterSet set(static_cast<int64_t>(vit->depth()), ParallelAdapterOptions(64, 16), gen);
  auto hooks = std::make_shared<MlpBranchHooks>();
  vit->hooks = hooks;
  SampleDropout dropout;
  dropout.p = 0.5;
  dropout.seeds = {1, 2, 3, 4, 5, 6};
  for (const auto& d : {SampleDropout{}, dropout}) {
    BranchScope scope(*hooks, adapter_set_branch(set, d));
    EXPECT_TRUE(torch::equal(vit->forward(images), plain)) << "up-projection and biases are zero";
  }
  // Once Up is not zero the branch is s * Up(ReLU(Down(x_a))) added to the MLP's output.
  set[0].up->weight.normal_(0.0, 0.1);
  {
    BranchScope scope(*hooks, adapter_set_branch(set));
    EXPECT_FALSE(torch::equal(vit->forward(images), plain));
  }
  EXPECT_TRUE(torch::equal(vit->forward(images), plain)) << "the scope removed the branch";
}

TEST(ParallelAdapter, IsScaleTimesUpOfReluOfDownWithLoraInit) {
  auto gen = make_generator(0, 1);
  ParallelAdapter a(ParallelAdapterOptions(32, 8).scale(0.1), gen);
  const double bound = 1.0 / std::sqrt(32.0);
  EXPECT_LE(a->down->weight.abs().max().item<double>(), bound);
  EXPECT_GT(a->down->weight.abs().max().item<double>(), 0.8 * bound);  // U(-b, b), 256 draws
  EXPECT_EQ(a->up->weight.abs().max().item<double>(), 0.0);
  EXPECT_EQ(a->down->bias.abs().max().item<double>() + a->up->bias.abs().max().item<double>(), 0.0);
  torch::NoGradGuard no_grad;
  a->up->weight.normal_();
  a->up->bias.normal_();
  const auto x = torch::randn({3, 5, 32});
  const auto want =
      0.1 * (torch::relu(x.matmul(a->down->weight.t()) + a->down->bias).matmul(a->up->weight.t()) +
             a->up->bias);
  EXPECT_TRUE(torch::allclose(a->forward(x), want, 1e-5, 1e-6));
}

TEST(SampleDropout, ASamplesMaskDependsOnItsSeedAloneNotOnItsBatch) {
  SampleDropout d;
  d.p = 0.25;
  d.seeds = {7, 8, 9, 10};
  const auto h = torch::ones({4, 50, 6});
  const auto all = d.apply(h, 3);
  SampleDropout head = d, tail = d;
  head.seeds = {7, 8};
  tail.seeds = {9, 10};
  EXPECT_TRUE(torch::equal(
      all, torch::cat({head.apply(h.narrow(0, 0, 2), 3), tail.apply(h.narrow(0, 2, 2), 3)})));
  // Kept entries are scaled by 1 / (1 - p), about a quarter dropped (1,200 draws: 3 sigma is 3.8%).
  const auto kept = (all != 0).to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(kept, 0.75, 0.04);
  EXPECT_NEAR(all.max().item<double>(), 1.0 / 0.75, 1e-6);
  EXPECT_FALSE(torch::equal(all, d.apply(h, 4))) << "another salt, another mask";
  EXPECT_TRUE(torch::equal(SampleDropout{}.apply(h, 3), h)) << "no seeds: no dropout";
}

TEST(CosineClassifier, IsSigmaTimesTheCosineOfFeaturesAndRows) {
  auto gen = make_generator(0, 2);
  CosineClassifier c(5, 8, gen);
  torch::NoGradGuard no_grad;
  c->sigma.fill_(3.0);
  const auto f = torch::randn({4, 8});
  auto want = torch::empty({4, 5});
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t k = 0; k < 5; ++k) {
      want[i][k] = 3.0 * (f[i].dot(c->weight[k]) / (f[i].norm() * c->weight[k].norm()));
    }
  }
  EXPECT_TRUE(torch::allclose(c->forward(f), want, 1e-5, 1e-6));
  c->weight[2].zero_();
  EXPECT_EQ(c->forward(f).select(1, 2).abs().max().item<double>(), 0.0) << "a zero row scores 0";
}

TEST(SimpleCil, ItsRowsAreTheClassMeansOfTheFrozenFeaturesAndNothingTrains) {
  auto s = setup({{"benchmark", "synthetic"},
                  {"method", "simplecil"},
                  {"backbone", "vit-tiny28"},
                  {"synthetic", {{"side", 28}, {"classes", 4}, {"train_per_class", 12}}},
                  {"threads", 1}});
  const auto& tasks = s->stream->tasks;
  EXPECT_TRUE(s->method->train_indices(tasks[0]).empty());
  EXPECT_TRUE(s->method->parameter_groups().empty());
  auto& vit = *std::dynamic_pointer_cast<VitImpl>(s->model->backbone);
  torch::Tensor rows;
  for (const auto& task : tasks) {
    s->method->begin_task(task);
    s->method->end_task(task);
  }
  rows = testing::probe(*s->method).tensors.at("simplecil.classifier.weight");
  torch::NoGradGuard no_grad;
  for (const auto& task : tasks) {
    const auto batch = load_batch(*s->stream, *s->stream->train_set, task.train,
                                  static_cast<int64_t>(task.train.size()));
    const auto f = vit.forward(batch.x);
    for (int64_t c = task.class_begin; c < task.class_end; ++c) {
      const auto mean = f.index_select(0, (batch.y == c).nonzero().squeeze(1)).mean(0);
      EXPECT_TRUE(torch::allclose(rows[c], mean, 1e-5, 1e-6)) << "class " << c;
    }
  }
  // Prediction: the nearest prototype by cosine; stored: one row of D per seen class.
  const auto batch = load_batch(*s->stream, *s->stream->test_set, tasks[1].test, 8);
  const auto want = torch::matmul(torch::nn::functional::normalize(vit.forward(batch.x)),
                                  torch::nn::functional::normalize(rows).t());
  EXPECT_TRUE(torch::allclose(s->method->logits(batch), want, 1e-5, 1e-6));
  EXPECT_EQ(s->method->stored_parameters(), 4 * 64);
}

}  // namespace
}  // namespace clbench::adapter_testing
