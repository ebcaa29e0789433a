// The mixture-of-experts adapter methods (moe-adapters, sema) on the synthetic stream with the
// small ViT: how they route, what they freeze, when SEMA grows, and what they count on ViT-B/16.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "datasets/loader.h"
#include "methods/experts/moe_adapters.h"
#include "methods/experts/sema.h"
#include "support.h"

namespace clbench::moe_testing {
namespace {

using testing::setup;

nlohmann::json expert_run(const std::string& method,
                          nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json user = {{"benchmark", "synthetic"},
                         {"method", method},
                         {"backbone", "vit-tiny28"},
                         {"synthetic", {{"side", 28}, {"classes", 4}, {"train_per_class", 12}}},
                         {"epochs", 1},
                         {"batch_size", 16},
                         {"threads", 1}};
  user.merge_patch(extra);
  return user;
}

VitImpl& vit_of(testing::Setup& s) {
  return *std::dynamic_pointer_cast<VitImpl>(s.model->backbone);
}

Batch first_samples(const TaskStream& stream, const Task& task, int64_t n,
                    std::optional<uint64_t> augment = std::nullopt) {
  std::vector<int64_t> idx(task.train.begin(), task.train.begin() + n);
  return load_batch(stream, *stream.train_set, idx, n, 1, 0, augment);
}

// Adam steps on the task's first samples (training batches: with an augmentation seed).
void train_task(testing::Setup& s, const Task& task, int steps) {
  s.method->begin_task(task);
  torch::optim::Adam adam(s.method->trainable_parameters(), torch::optim::AdamOptions(0.01));
  for (int i = 0; i < steps; ++i) {
    adam.zero_grad();
    s.method->loss(first_samples(*s.stream, task, 16, 100 + i)).backward();
    adam.step();
  }
  s.method->end_task(task);
}

std::vector<torch::Tensor> clones(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> out;
  for (const auto& t : ts) out.push_back(t.detach().clone());
  return out;
}

bool all_equal(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!torch::equal(a[i], b[i])) return false;
  }
  return true;
}

bool contains(const std::vector<torch::Tensor>& params, const torch::Tensor& t) {
  return std::any_of(params.begin(), params.end(),
                     [&](const torch::Tensor& p) { return p.is_same(t); });
}

TEST(MoeAdapters, NoisyTopKKeepsTheKLargestLogitsAndSoftmaxesThem) {
  const auto clean = torch::tensor({{1.0, 3.0, 2.0}, {0.5, -1.0, 0.2}});
  const auto r = noisy_top_k(clean, {}, {}, 2);
  const double a = std::exp(3.0) / (std::exp(3.0) + std::exp(2.0));
  const double b = std::exp(0.5) / (std::exp(0.5) + std::exp(0.2));
  EXPECT_TRUE(torch::allclose(r.gates, torch::tensor({{0.0, a, 1 - a}, {b, 0.0, 1 - b}})));
  EXPECT_TRUE(torch::equal(r.load, torch::tensor({1, 1, 2}, torch::kLong)));  // nonzero gates
  // With noise the top k and the softmax are of clean + noise * std.
  const auto noise = torch::tensor({{2.0, 0.0, 0.0}, {0.0, 0.0, 0.0}});
  const auto std = torch::full({2, 3}, 1.5);
  const auto noisy = noisy_top_k(clean, noise, std, 2);
  const double c = std::exp(4.0) / (std::exp(4.0) + std::exp(3.0));  // 1 + 2 x 1.5 = 4 beats 3
  EXPECT_TRUE(torch::allclose(noisy.gates, torch::tensor({{c, 1 - c, 0.0}, {b, 0.0, 1 - b}})));
  // Its load is the probability of staying in the top k (three values in (0, 1], sum <= 2 x 2).
  EXPECT_EQ(noisy.load.size(0), 3);
  EXPECT_GT(noisy.load.min().item<double>(), 0.0);
  EXPECT_NEAR(cv_squared(torch::tensor({1.0, 3.0})).item<double>(), 2.0 / 4.0, 1e-6);
}

// The ViT's blocks under a mixture computed by hand from the method's tensors.
struct HandMixture : VitHooks {
  MoeAdapters* m = nullptr;
  std::vector<int64_t> routers;  // each sample's router (empty: router 0)
  torch::Tensor mlp(size_t block, const torch::Tensor& x, const torch::Tensor& mlp) override {
    auto& l = m->layer(block);
    const int64_t E = static_cast<int64_t>(l.experts->size());
    auto out = mlp.clone();
    for (int64_t i = 0; i < x.size(0); ++i) {
      const auto router =
          routers.empty() ? 0 : static_cast<size_t>(routers[static_cast<size_t>(i)]);
      const auto logits = x.select(1, 0).narrow(0, i, 1).matmul(l.gate(router));
      std::vector<std::pair<double, int64_t>> order;
      for (int64_t e = 0; e < E; ++e) order.push_back({logits[0][e].item<double>(), e});
      std::sort(order.rbegin(), order.rend());
      const double z0 = std::exp(order[0].first), z1 = std::exp(order[1].first);
      for (int k = 0; k < 2; ++k) {
        const double gate = (k == 0 ? z0 : z1) / (z0 + z1);
        auto& ex = l.expert(static_cast<size_t>(order[static_cast<size_t>(k)].second));
        const auto h = torch::relu(x[i].matmul(ex.down->weight.t()) + ex.down->bias);
        out[i] += gate * 0.1 * (h.matmul(ex.up->weight.t()) + ex.up->bias);
      }
    }
    return out;
  }
};

// The model's logits on `x` with the ViT's blocks under the hand-computed mixture (each sample on
// `routers`' router, empty: router 0).
torch::Tensor hand_mixture_logits(testing::Setup& s, MoeAdapters* m, std::vector<int64_t> routers,
                                  const torch::Tensor& x) {
  auto& vit = vit_of(s);
  auto hand = std::make_shared<HandMixture>();
  hand->m = m;
  hand->routers = std::move(routers);
  auto kept = vit.hooks;
  vit.hooks = hand;
  const auto logits = s.model->head->forward(vit.forward(x));
  vit.hooks = kept;
  return logits;
}

TEST(MoeAdapters, RoutesEachImageOnItsClassTokenToTheTopKExpertsAndSumsTheirGatedOutputs) {
  auto s = setup(expert_run("moe-adapters", {{"moe-adapters", {{"experts", 3}, {"top_k", 2}}}}));
  auto* m = dynamic_cast<MoeAdapters*>(s->method);
  ASSERT_NE(m, nullptr);
  const auto& task = s->stream->tasks[0];
  s->method->begin_task(task);
  {  // routers and experts that are not their zero / LoRA init
    torch::NoGradGuard no_grad;
    for (size_t b = 0; b < m->depth(); ++b) {
      m->layer(b).w_gate.normal_(0.0, 0.3);
      m->layer(b).w_noise.normal_(0.0, 0.3);
      for (size_t e = 0; e < 3; ++e) m->layer(b).expert(e).up->weight.normal_(0.0, 0.2);
    }
  }
  const auto eval = first_samples(*s->stream, task, 6);
  torch::NoGradGuard no_grad;
  const auto want = hand_mixture_logits(*s, m, {}, eval.x);
  const auto got = s->method->logits(eval);
  EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-5)) << (got - want).abs().max().item<double>();

  // Evaluation batches have no noise; a training batch's noise is per sample, from its own seed.
  EXPECT_TRUE(MoeAdapters::noise_seeds(eval).empty());
  const auto train = first_samples(*s->stream, task, 6, 7);
  const auto seeds = MoeAdapters::noise_seeds(train);
  ASSERT_EQ(seeds.size(), 6u);
  const auto cls = torch::randn({6, vit_of(*s).feature_dim()});
  const auto clean = m->route(1, cls, {});
  EXPECT_TRUE(
      torch::equal(clean.gates, noisy_top_k(cls.matmul(m->layer(1).w_gate), {}, {}, 2).gates));
  const auto noisy = m->route(1, cls, seeds);
  EXPECT_FALSE(torch::equal(noisy.gates, clean.gates)) << "training adds noise";
  EXPECT_TRUE(torch::equal(m->route(1, cls, seeds).gates, noisy.gates)) << "seeded";
  const std::vector<uint64_t> tail(seeds.begin() + 3, seeds.end());
  // (allclose: the matrix product of 3 rows may round otherwise than that of 6)
  EXPECT_TRUE(torch::allclose(m->route(1, cls.narrow(0, 3, 3), tail).gates,
                              noisy.gates.narrow(0, 3, 3), 1e-5, 1e-6))
      << "a sample's noise does not depend on the rest of its batch";
  EXPECT_FALSE(torch::equal(m->route(2, cls, seeds).gates, m->route(2, cls, {}).gates));
}

TEST(MoeAdapters, FreezesTheMostSelectedExpertsWhichNeitherGetGradientsNorChangeAfterwards) {
  auto s = setup(
      expert_run("moe-adapters",
                 {{"moe-adapters",
                   {{"experts", 3}, {"top_k", 2}, {"frozen_per_task", 1}, {"bottleneck", 8}}}}));
  auto* m = dynamic_cast<MoeAdapters*>(s->method);
  ASSERT_NE(m, nullptr);
  const auto& tasks = s->stream->tasks;
  train_task(*s, tasks[0], 3);
  // Frozen: per block the expert with the most selections over task 1's samples.
  const auto counts = m->selection_counts();
  for (size_t b = 0; b < m->depth(); ++b) {
    EXPECT_EQ(counts[static_cast<int64_t>(b)].sum().item<double>(),
              2.0 * static_cast<double>(tasks[0].train.size()))
        << "top 2: two selections per sample";
    const int64_t most = counts[static_cast<int64_t>(b)].argmax().item<int64_t>();
    for (int64_t e = 0; e < 3; ++e) EXPECT_EQ(m->frozen(b, e), e == most) << b << " " << e;
  }
  std::vector<torch::Tensor> frozen_params, free_params;
  for (size_t b = 0; b < m->depth(); ++b) {
    for (int64_t e = 0; e < 3; ++e) {
      for (const auto& p : m->layer(b).expert(static_cast<size_t>(e)).parameters())
        (m->frozen(b, e) ? frozen_params : free_params).push_back(p);
    }
  }
  const auto frozen_before = clones(frozen_params), free_before = clones(free_params);
  // Task 2: a backward reaches no frozen parameter, and training leaves them bitwise unchanged.
  s->method->begin_task(tasks[1]);
  const auto trainable = s->method->trainable_parameters();
  for (const auto& p : frozen_params) EXPECT_FALSE(contains(trainable, p));
  s->method->loss(first_samples(*s->stream, tasks[1], 16, 1)).backward();
  for (const auto& p : frozen_params) EXPECT_FALSE(p.grad().defined());
  for (auto p : trainable) p.mutable_grad() = torch::Tensor();
  train_task(*s, tasks[1], 3);
  EXPECT_TRUE(all_equal(clones(frozen_params), frozen_before));
  EXPECT_FALSE(all_equal(clones(free_params), free_before)) << "the others trained";
}

TEST(MoeAdapters, CountsOnVitB16AreTheExpertsAndRoutersOfTwelveBlocksPlusTheHead) {
  auto s = setup({{"benchmark", "synthetic"},
                  {"method", "moe-adapters"},
                  {"backbone", "vit-b16"},
                  {"synthetic", {{"classes", 4}, {"train_per_class", 1}}},
                  {"moe-adapters", {{"frozen_per_task", 1}}}});
  const int64_t C = s->stream->num_classes(), head = 768 * C + C;
  const int64_t expert = 768 * 64 + 64 + 64 * 768 + 768;  // 99,136
  const int64_t routers = 2 * 768 * 2;                    // W_gate and W_noise, D x E
  s->method->begin_task(s->stream->tasks[0]);
  EXPECT_EQ(count_parameters(s->method->trainable_parameters()),
            12 * (2 * expert + routers) + head);
  EXPECT_EQ(s->method->stored_parameters(), 12 * (2 * expert + routers) + head);
  s->method->end_task(s->stream->tasks[0]);  // one expert per block frozen (counted, no training)
  s->method->begin_task(s->stream->tasks[1]);
  EXPECT_EQ(count_parameters(s->method->trainable_parameters()), 12 * (expert + routers) + head);
  EXPECT_EQ(s->method->stored_parameters(), 12 * (2 * expert + routers) + head);
}

// SEMA after task 1 (its adapters trained, its descriptors fit), with `threshold`.
std::unique_ptr<testing::Setup> sema_after_task1(double threshold) {
  auto s = setup(expert_run(
      "sema",
      {{"sema",
        {{"bottleneck", 4}, {"rd_dim", 8}, {"rd_epochs", 2}, {"exp_threshold", threshold}}}}));
  train_task(*s, s->stream->tasks[0], 3);
  return s;
}

TEST(Sema, ExpandsABlockExactlyWhenEveryDescriptorsMeanZScoreExceedsTheThreshold) {
  auto s = sema_after_task1(2.0);
  auto* m = dynamic_cast<Sema*>(s->method);
  ASSERT_NE(m, nullptr);
  const auto& tasks = s->stream->tasks;
  // vit-tiny28 has 4 blocks: the last 3 expand; each with one adapter and its statistics.
  ASSERT_EQ(m->blocks().size(), 4u);
  EXPECT_FALSE(m->blocks()[0].expands);
  for (size_t b = 1; b < 4; ++b) {
    ASSERT_TRUE(m->blocks()[b].expands);
    EXPECT_GT(m->blocks()[b].adapters[0].rd_std, 0.0);
  }
  // On the data its statistics come from, a mean |z| is at most sqrt((n - 1) / n) < 1.
  for (const auto& z : m->mean_z_scores(tasks[0].train)) EXPECT_LT(z.max().item<double>(), 1.0);
  const auto z = m->mean_z_scores(tasks[1].train);
  ASSERT_EQ(z.size(), 3u);
  std::vector<double> lowest;
  for (const auto& t : z) lowest.push_back(t.min().item<double>());
  const double lo = *std::min_element(lowest.begin(), lowest.end()),
               hi = *std::max_element(lowest.begin(), lowest.end());
  // The same run with thresholds below, between and above the blocks' scores.
  for (double threshold : {lo / 2, (lo + hi) / 2, hi + 1e-3}) {
    auto t = sema_after_task1(threshold);
    auto* mt = dynamic_cast<Sema*>(t->method);
    mt->begin_task(tasks[1]);
    for (size_t k = 0; k < 3; ++k) {
      EXPECT_EQ(mt->blocks()[k + 1].adapters.size(), lowest[k] > threshold ? 2u : 1u)
          << "block " << k + 1 << " z " << lowest[k] << " threshold " << threshold;
    }
    EXPECT_EQ(mt->blocks()[0].adapters.size(), 1u) << "block 0 never expands";
    if (threshold > hi) {
      EXPECT_EQ(count_parameters(mt->trainable_parameters()),
                count_parameters(t->model->head->parameters()))
          << "no new adapter: only the head trains";
    }
  }
}

TEST(Sema, AnExpansionTrainsOnlyTheNewAdapterRowAndHeadAndLeavesTheOldOnesBitwise) {
  auto s = sema_after_task1(0.0);  // every expanding block grows
  auto* m = dynamic_cast<Sema*>(s->method);
  ASSERT_NE(m, nullptr);
  const auto& tasks = s->stream->tasks;
  std::vector<torch::Tensor> old;
  for (const auto& b : m->blocks()) {
    for (const auto& a : b.adapters) {
      for (const auto& t : {a.down_w, a.down_b, a.up_w, a.up_b, a.row_w, a.row_b, a.enc_w, a.enc_b,
                            a.dec_w, a.dec_b}) {
        if (t.defined()) old.push_back(t);
      }
    }
  }
  const auto before = clones(old);
  const double mean0 = m->blocks()[3].adapters[0].rd_mean;
  s->method->begin_task(tasks[1]);
  const int64_t D = 64, r = 4, k = 8, C = s->stream->num_classes();
  const int64_t adapter = D * r + r + r * D + D, row = D + 1, descriptor = D * k + k + k * D + D;
  EXPECT_EQ(count_parameters(s->method->trainable_parameters()), 3 * (adapter + row) + D * C + C);
  train_task(*s, tasks[1], 3);
  EXPECT_TRUE(all_equal(clones(old), before));
  EXPECT_EQ(m->blocks()[3].adapters[0].rd_mean, mean0) << "old statistics kept";
  for (size_t b = 1; b < 4; ++b) {
    const auto& fresh = m->blocks()[b].adapters.at(1);
    EXPECT_GT(fresh.up_w.abs().max().item<double>(), 0.0) << "the new adapter trained";
    EXPECT_GT(fresh.rd_std, 0.0) << "and its descriptor has statistics";
    EXPECT_FALSE(fresh.up_w.requires_grad()) << "frozen after its task";
  }
  // Stored: 4 + 3 adapters, 6 router rows and descriptors (each with 2 statistics), the head.
  EXPECT_EQ(s->method->stored_parameters(), 7 * adapter + 6 * (row + descriptor + 2) + D * C + C);
}

TEST(Sema, CountsOnVitB16AreTwelveAdaptersThreeRoutersAndDescriptorsPlusTheHead) {
  auto s = setup({{"benchmark", "synthetic"},
                  {"method", "sema"},
                  {"backbone", "vit-b16"},
                  {"synthetic", {{"classes", 4}, {"train_per_class", 1}}}});
  const int64_t C = s->stream->num_classes(), head = 768 * C + C;
  const int64_t adapter = 768 * 16 + 16 + 16 * 768 + 768;        // 25,360
  const int64_t row = 768 + 1;                                   // a Linear(768, 1) per adapter
  const int64_t descriptor = 768 * 128 + 128 + 128 * 768 + 768;  // 197,504
  s->method->begin_task(s->stream->tasks[0]);
  EXPECT_EQ(count_parameters(s->method->trainable_parameters()), 12 * adapter + 3 * row + head);
  EXPECT_EQ(s->method->stored_parameters(), 12 * adapter + 3 * (row + descriptor + 2) + head);
}

// task_routers: each task trains its own router (the earlier ones stay bitwise), each task fits an
// autoencoder on sigmoid of the frozen features, and a test image takes the router of the task
// whose autoencoder reconstructs it best (MTIL's DDAS, per image).
TEST(MoeAdapters, TaskRoutersTrainTheirTasksRouterAndTestPicksTheBestReconstructingTask) {
  auto s = setup(expert_run("moe-adapters", {{"moe-adapters",
                                              {{"experts", 3},
                                               {"top_k", 2},
                                               {"task_routers", true},
                                               {"selector_code", 8},
                                               {"selector_steps", 6}}}}));
  auto* m = dynamic_cast<MoeAdapters*>(s->method);
  ASSERT_NE(m, nullptr);
  const auto& tasks = s->stream->tasks;
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(m->forward_passes(), 2) << "the frozen pass of the selector, the routed pass";
  train_task(*s, tasks[0], 3);
  std::vector<torch::Tensor> first;
  for (size_t b = 0; b < m->depth(); ++b) {
    first.push_back(m->layer(b).gate(0).detach().clone());
    first.push_back(m->layer(b).noise(0).detach().clone());
  }
  EXPECT_GT(first[0].abs().max().item<double>(), 0.0) << "task 1 trained router 0";
  s->method->begin_task(tasks[1]);
  const auto trained = s->method->trainable_parameters();
  const auto holds = [&](const torch::Tensor& t) {
    return std::any_of(trained.begin(), trained.end(),
                       [&](const torch::Tensor& p) { return p.is_same(t); });
  };
  EXPECT_TRUE(holds(m->layer(0).gate(1)) && holds(m->layer(0).noise(1)));
  EXPECT_FALSE(holds(m->layer(0).gate(0)) || holds(m->layer(0).noise(0)));
  train_task(*s, tasks[1], 3);
  for (size_t b = 0; b < m->depth(); ++b) {
    EXPECT_TRUE(torch::equal(m->layer(b).gate(0), first[2 * b])) << "block " << b;
    EXPECT_TRUE(torch::equal(m->layer(b).noise(0), first[2 * b + 1])) << "block " << b;
  }
  EXPECT_GT(m->layer(0).gate(1).abs().max().item<double>(), 0.0) << "task 2 trained router 1";
  // Test: per image, the task whose autoencoder's MSE on sigmoid(frozen feature) is lowest.
  std::vector<int64_t> idx(tasks[0].train.begin(), tasks[0].train.begin() + 4);
  idx.insert(idx.end(), tasks[1].train.begin(), tasks[1].train.begin() + 4);
  const auto batch = load_batch(*s->stream, *s->stream->train_set, idx, 8, 1);
  torch::NoGradGuard no_grad;
  auto& vit = vit_of(*s);
  const auto q = torch::sigmoid(vit.query(batch.x));
  std::vector<int64_t> want;
  for (int64_t i = 0; i < 8; ++i) {
    double best = std::numeric_limits<double>::infinity();
    int64_t pick = -1;
    for (size_t t = 0; t < 2; ++t) {
      const auto err = (m->selector(t)->forward(q.narrow(0, i, 1)) - q.narrow(0, i, 1))
                           .pow(2)
                           .mean()
                           .item<double>();
      if (err < best) best = err, pick = static_cast<int64_t>(t);
    }
    want.push_back(pick);
  }
  const auto picked = m->select_routers(batch.x);
  EXPECT_EQ(std::vector<int64_t>(picked.data_ptr<int64_t>(), picked.data_ptr<int64_t>() + 8), want);
  const auto expected = hand_mixture_logits(*s, m, want, batch.x);
  const auto got = s->method->logits(batch);
  EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-5))
      << (got - expected).abs().max().item<double>();
  // Stored: the experts, both tasks' routers and autoencoders, the head.
  const int64_t D = vit.feature_dim(), E = 3, C = s->stream->num_classes();
  const int64_t expert = D * 64 + 64 + 64 * D + D, router = 2 * D * E;
  const int64_t ae = D * 8 + 8 + 8 * D + D;
  EXPECT_EQ(s->method->stored_parameters(),
            static_cast<int64_t>(m->depth()) * (E * expert + 2 * router) + 2 * ae + D * C + C);
}

}  // namespace
}  // namespace clbench::moe_testing
