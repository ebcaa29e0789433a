// The services the harness gives methods (methods/services.h: sums, rows and gradients over
// samples, fits, recorded outputs), and the per-sample gradients EWC's Fisher is made of
// (harness/models/per_sample_gradients.h).
#include <algorithm>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "datasets/loader.h"
#include "harness/models/per_sample_gradients.h"
#include "methods/services.h"
#include "support.h"

namespace clbench {
namespace {

std::vector<int64_t> first_samples(const TaskStream& stream, size_t n) {
  const auto& all = stream.tasks[0].train;
  return {all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n)};
}

TEST(Services, SumOverSamplesAddsEverySampleOnceInAnyShardCount) {
  std::vector<torch::Tensor> sums;
  for (int shards : {0, 3}) {  // one shard; three shards on one rank (the ordered-rows path)
    auto s = testing::setup(
        {{"benchmark", "synthetic"}, {"grad_shards", shards}, {"eval_batch_size", 7}});
    const auto samples = first_samples(*s->stream, 50);
    MethodServices& services = *s->session->services;
    auto out = services.sum_over_samples(samples, [](const Batch& b) {
      const auto n = static_cast<double>(b.y.size(0));
      return std::vector<torch::Tensor>{b.x.to(torch::kDouble).sum(0),
                                        torch::full({1}, n, torch::kDouble)};
    });
    EXPECT_EQ(out[1].item<double>(), 50.0);
    const auto direct = load_batch(*s->stream, *s->stream->train_set, samples, 50).x.sum(0);
    EXPECT_TRUE(torch::allclose(out[0], direct.to(torch::kDouble), 1e-6, 1e-9));
    sums.push_back(out[0]);
  }
  EXPECT_TRUE(torch::allclose(sums[0], sums[1], 1e-12, 1e-12));
}

// Row i is exactly fn's row for samples[i], whatever the order of the samples, the batches (7 at
// a time) and the shards (one; three on one rank).
TEST(Services, SampleRowsPutEachSampleInItsRowInAnyShardCount) {
  for (int shards : {0, 3}) {
    auto s = testing::setup(
        {{"benchmark", "synthetic"}, {"grad_shards", shards}, {"eval_batch_size", 7}});
    auto samples = first_samples(*s->stream, 50);
    std::reverse(samples.begin(), samples.end());
    MethodServices& services = *s->session->services;
    const int64_t dim =
        load_batch(*s->stream, *s->stream->train_set, {samples[0]}, 1).x.flatten(1).size(1);
    int64_t calls = 0;
    const auto rows = services.sample_rows(samples, dim, [&](const Batch& b) {
      ++calls;
      return b.x.flatten(1);
    });
    const auto direct = load_batch(*s->stream, *s->stream->train_set, samples, 50).x.flatten(1);
    EXPECT_TRUE(torch::equal(rows, direct)) << shards << " shards";
    EXPECT_GE(calls, 8) << "50 samples in batches of at most 7";
  }
}

// Where the training view of a sample is its evaluation view the outputs are recorded once and
// read back by sample; where the data are augmented nothing is recorded and every batch runs.
TEST(Services, FrozenOutputsRecordOnlyWhatIsNotAugmented) {
  auto s = testing::setup({{"benchmark", "synthetic"}});
  MethodServices& services = *s->session->services;
  const auto samples = first_samples(*s->stream, 20);
  int64_t calls = 0;
  const FrozenOutputs::Forward sums = [&](const Batch& b) {
    ++calls;
    return b.x.flatten(1).sum(1, true);
  };
  const Batch batch =
      load_batch(*s->stream, *s->stream->train_set, {samples[5], samples[2], samples[11]}, 3);

  FrozenOutputs recorded;
  recorded.record(services, *s->stream->train_set, samples, 1, sums);
  ASSERT_TRUE(recorded.recorded());
  const int64_t recording = calls;
  EXPECT_TRUE(torch::equal(recorded.of(batch, sums), sums(batch)));
  EXPECT_EQ(calls, recording + 1) << "of() ran the forward on recorded samples";

  struct Augmenting : TensorDataset {
    using TensorDataset::TensorDataset;
    bool augments() const override { return true; }
  };
  const Augmenting augmenting(torch::zeros({20, 1, 2, 2}, torch::kUInt8),
                              std::vector<int64_t>(20, 0));
  FrozenOutputs per_batch;
  calls = 0;
  per_batch.record(services, augmenting, samples, 1, sums);
  EXPECT_FALSE(per_batch.recorded());
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(torch::equal(per_batch.of(batch, sums), sums(batch)));
  EXPECT_EQ(calls, 2);
}

TEST(Services, GradientsAreTheMeanOverTheSamplesAndLeaveGradAlone) {
  auto s = testing::setup({{"benchmark", "synthetic"}, {"grad_shards", 2}});
  const auto samples = first_samples(*s->stream, 12);
  const auto params = s->model->parameters();
  for (auto& p : params) p.mutable_grad() = torch::full_like(p, 7.0);
  auto loss = [&](const Batch& b) {
    return b.mean(torch::nn::functional::cross_entropy(
        s->model->forward(b.x), b.y,
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone)));
  };
  const auto grads = s->session->services->gradients(samples, loss, params);
  for (const auto& p : params) EXPECT_TRUE(torch::all(p.grad() == 7.0).item<bool>());
  // The mean of per-sample gradients, one sample at a time.
  std::vector<torch::Tensor> mean;
  for (const auto& p : params) mean.push_back(torch::zeros_like(p));
  for (int64_t i : samples) {
    const Batch b = load_batch(*s->stream, *s->stream->train_set, {i}, 1);
    const auto g = torch::autograd::grad({loss(b)}, params);
    for (size_t k = 0; k < params.size(); ++k) mean[k] += g[k] / 12.0;
  }
  for (size_t k = 0; k < params.size(); ++k) {
    EXPECT_TRUE(torch::allclose(grads[k], mean[k], 1e-4, 1e-6)) << k;
  }
}

TEST(Services, AFitTrainsItsParametersInTrainModeAndRestoresTheMode) {
  auto s = testing::setup({{"benchmark", "synthetic"}});
  const auto samples = first_samples(*s->stream, 64);
  auto& head = s->model->head;
  auto loss_now = [&] {
    torch::NoGradGuard g;
    const Batch b = load_batch(*s->stream, *s->stream->train_set, samples, 64);
    return torch::nn::functional::cross_entropy(s->model->forward(b.x), b.y).item<double>();
  };
  const double before = loss_now();
  const auto backbone_before = s->model->backbone->parameters()[0].clone();
  s->model->eval();
  bool trained_in_train_mode = true;
  FitSpec spec;
  spec.name = "test-fit";
  spec.samples = samples;
  spec.steps = 30;
  spec.batch_size = 16;
  spec.params = {ParamGroup{{head->weight, head->bias}, std::nullopt, std::nullopt}};
  spec.optimizer = {"sgd", 0.1, 0.9, 0.0};
  spec.loss = [&](const Batch& b) {
    trained_in_train_mode = trained_in_train_mode && s->model->is_training();
    return b.mean(torch::nn::functional::cross_entropy(
        s->model->forward(b.x), b.y,
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone)));
  };
  s->session->services->fit(spec);
  EXPECT_TRUE(trained_in_train_mode);
  EXPECT_FALSE(s->model->is_training()) << "the mode before the fit comes back";
  EXPECT_LT(loss_now(), 0.7 * before);
  EXPECT_TRUE(torch::equal(s->model->backbone->parameters()[0], backbone_before))
      << "only the fit's parameters change";
}

// log p(y | x) of each sample, the EWC objective.
torch::Tensor log_likelihood(const torch::Tensor& logits, const torch::Tensor& y) {
  return torch::log_softmax(logits, 1).gather(1, y.unsqueeze(1)).squeeze(1);
}

TEST(PerSampleGradients, BatchedRulesEqualOneBackwardPerSample) {
  for (const std::string backbone : {"mlp", "cnn", "vit-tiny28"}) {
    nlohmann::json user = {{"benchmark", "synthetic"}, {"backbone", backbone}};
    if (backbone == "vit-tiny28") user["synthetic.side"] = 28;
    auto s = testing::setup(user);
    const Batch b = load_batch(*s->stream, *s->stream->train_set, first_samples(*s->stream, 9), 9);
    const auto params = s->model->parameters();
    for (int power : {1, 2}) {
      const auto batched =
          sum_of_sample_gradient_powers(*s->model, b.x, b.y, log_likelihood, params, power);
      for (size_t k = 0; k < params.size(); ++k) {
        auto loop = torch::zeros_like(params[k]);
        for (int64_t i = 0; i < 9; ++i) {
          const auto value =
              log_likelihood(s->model->forward(b.x.narrow(0, i, 1)), b.y.narrow(0, i, 1)).sum();
          const auto g = torch::autograd::grad({value}, {params[k]}, {}, false, false, true)[0];
          if (g.defined()) loop += power == 2 ? g.square() : g.abs();
        }
        EXPECT_TRUE(torch::allclose(batched[k], loop, 1e-4, 1e-7))
            << backbone << " p=" << power << " parameter " << k << ": max difference "
            << (batched[k] - loop).abs().max().item<double>();
      }
    }
  }
}

// GEM's per-task memory gradients: one batched backward, each group's share summed by the rules,
// equals one backward pass per group (its samples' summed loss), within float rounding; the ViT
// (no rules for its attention and norms) is refused, as is a ResNet (batch norm).
TEST(PerSampleGradients, GroupSumsOfOneBatchedPassEqualOneBackwardPerGroup) {
  for (const std::string backbone : {"mlp", "cnn"}) {
    auto s = testing::setup({{"benchmark", "synthetic"}, {"backbone", backbone}});
    const Batch b =
        load_batch(*s->stream, *s->stream->train_set, first_samples(*s->stream, 11), 11);
    const auto params = s->model->parameters();
    ASSERT_TRUE(has_sample_gradient_rules(*s->model, params)) << backbone;
    const auto group = torch::tensor({2, 0, 2, 1, 0, 2, 2, 1, 0, 0, 2}, torch::kLong);
    const auto batched = group_gradient_sums(*s->model, b.x, b.y, log_likelihood, params, group, 4);
    ASSERT_EQ(batched.size(), 4u);
    for (int64_t k = 0; k < 4; ++k) {
      const auto rows = group.eq(k).nonzero().squeeze(1);
      for (size_t i = 0; i < params.size(); ++i) {
        if (rows.numel() == 0) {
          EXPECT_EQ(batched[k][i].abs().max().item<double>(), 0.0) << "an empty group sums to 0";
          continue;
        }
        const auto value =
            log_likelihood(s->model->forward(b.x.index_select(0, rows)), b.y.index_select(0, rows))
                .sum();
        const auto g = torch::autograd::grad({value}, {params[i]}, {}, false, false, true)[0];
        EXPECT_TRUE(torch::allclose(batched[k][i], g, 1e-4, 1e-6))
            << backbone << " group " << k << " parameter " << i << ": max difference "
            << (batched[k][i] - g).abs().max().item<double>();
      }
    }
  }
  for (const std::string backbone : {"vit-tiny28", "resnet-tiny"}) {
    nlohmann::json user = {{"benchmark", "synthetic"}, {"backbone", backbone}};
    if (backbone == "vit-tiny28") user["synthetic.side"] = 28;
    auto s = testing::setup(user);
    EXPECT_FALSE(has_sample_gradient_rules(*s->model, s->model->parameters())) << backbone;
  }
}

}  // namespace
}  // namespace clbench
