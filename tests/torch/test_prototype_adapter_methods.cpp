// The adapter methods with prototype classifiers (aper-adapter, ease) on the synthetic stream with
// the small ViT: what they train, what they keep, how they classify, and what they count.
#include <array>
#include <cmath>
#include <map>

#include <gtest/gtest.h>

#include "datasets/loader.h"
#include "harness/models/vit.h"
#include "methods/parallel_adapter.h"
#include "support.h"

namespace clbench::aper_testing {
namespace {

using testing::setup;

// 6 classes in 3 tasks of 2, 12 training samples each, on the small ViT.
nlohmann::json small_run(const std::string& method) {
  return {{"benchmark", "synthetic"},
          {"method", method},
          {"backbone", "vit-tiny28"},
          {"synthetic", {{"side", 28}, {"classes", 6}, {"train_per_class", 12}}},
          {"batch_size", 16},
          {"threads", 1}};
}

VitImpl& vit_of(testing::Setup& s) {
  return *std::dynamic_pointer_cast<VitImpl>(s.model->backbone);
}

// Every training image of `task`, un-augmented, in one batch.
Batch all_of(const TaskStream& stream, const Task& task) {
  return load_batch(stream, *stream.train_set, task.train, static_cast<int64_t>(task.train.size()));
}

// begin_task, `steps` SGD steps on the task's first 16 samples (augmented: dropout on), end_task.
void run_task(testing::Setup& s, const Task& task, int steps) {
  s.method->begin_task(task);
  const auto params = s.method->trainable_parameters();
  if (!params.empty()) {
    torch::optim::SGD sgd(params, torch::optim::SGDOptions(0.5).momentum(0.9));
    std::vector<int64_t> idx(task.train.begin(), task.train.begin() + 16);
    for (int i = 0; i < steps; ++i) {
      sgd.zero_grad();
      s.method->loss(load_batch(*s.stream, *s.stream->train_set, idx, 16, 1, 0, 11 + i)).backward();
      sgd.step();
    }
  }
  s.method->end_task(task);
}

// A copy of the method's adapter set stored under `prefix` (its state's tensors).
AdapterSet adapter_copy(testing::Setup& s, const std::string& prefix, int64_t bottleneck = 64) {
  auto& vit = vit_of(s);
  auto gen = make_generator(0, 0);
  AdapterSet set(static_cast<int64_t>(vit.depth()),
                 ParallelAdapterOptions(vit.feature_dim(), bottleneck), gen);
  const auto state = testing::probe(*s.method);
  torch::NoGradGuard no_grad;
  for (auto& p : set->named_parameters()) p.value().copy_(state.tensors.at(prefix + p.key()));
  return set;
}

// The ViT's CLS feature with `set` on its MLP branch (no dropout).
torch::Tensor with_set(testing::Setup& s, AdapterSet set, const torch::Tensor& x) {
  auto& vit = vit_of(s);
  auto& hooks = *std::dynamic_pointer_cast<MlpBranchHooks>(vit.hooks);
  torch::NoGradGuard no_grad;
  BranchScope scope(hooks, adapter_set_branch(set));
  return vit.forward(x);
}

double cosine(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.dot(b) / (a.norm() * b.norm())).item<double>();
}

std::map<std::string, torch::Tensor> snapshot(Method& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, t] : testing::probe(m).tensors) out[name] = t.detach().clone();
  return out;
}

TEST(AperAdapter, TrainsOnTaskOneOnlyThenSetsOnlyItsClassesRowsToMeansOfBothFeatures) {
  auto s = setup(small_run("aper-adapter"));
  const auto& tasks = s->stream->tasks;
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(s->method->train_indices(tasks[0]), tasks[0].train);
  EXPECT_TRUE(s->method->train_indices(tasks[1]).empty());
  EXPECT_EQ(s->method->forward_passes(), 2);
  run_task(*s, tasks[0], 3);
  const auto after_first = snapshot(*s->method);
  EXPECT_FALSE(
      torch::equal(after_first.at("aper.adapters.adapters.0.up.weight"),
                   torch::zeros_like(after_first.at("aper.adapters.adapters.0.up.weight"))))
      << "task 1 trained the adapters";
  s->method->begin_task(tasks[1]);
  EXPECT_TRUE(s->method->trainable_parameters().empty());
  EXPECT_TRUE(s->method->parameter_groups().empty());
  s->method->end_task(tasks[1]);
  const auto after_second = snapshot(*s->method);
  for (const auto& [name, t] : after_first) {
    if (name == "aper.classifier.weight") continue;
    EXPECT_TRUE(torch::equal(after_second.at(name), t)) << name << " changed in task 2";
  }
  const auto &before = after_first.at("aper.classifier.weight"),
             rows = after_second.at("aper.classifier.weight");
  EXPECT_TRUE(torch::equal(rows.narrow(0, 0, 2), before.narrow(0, 0, 2))) << "task 1's rows";
  EXPECT_TRUE(torch::equal(rows.narrow(0, 4, 2), before.narrow(0, 4, 2))) << "task 3's rows";
  EXPECT_FALSE(torch::equal(rows.narrow(0, 2, 2), before.narrow(0, 2, 2)));

  // Each seen class's row is the mean of [frozen feature, adapted feature] of its images.
  const auto adapters = adapter_copy(*s, "aper.adapters.");
  auto& vit = vit_of(*s);
  torch::NoGradGuard no_grad;
  for (int t = 0; t < 2; ++t) {
    const auto batch = all_of(*s->stream, tasks[static_cast<size_t>(t)]);
    const auto f = torch::cat({vit.query(batch.x), with_set(*s, adapters, batch.x)}, 1);
    for (int64_t c = tasks[static_cast<size_t>(t)].class_begin;
         c < tasks[static_cast<size_t>(t)].class_end; ++c) {
      const auto mean = f.index_select(0, (batch.y == c).nonzero().squeeze(1)).mean(0);
      EXPECT_TRUE(torch::allclose(rows[c], mean, 1e-5, 1e-6)) << "class " << c;
    }
  }
  // Logits: the cosine of the concatenated feature with every row (sigma 1).
  const auto batch = load_batch(*s->stream, *s->stream->test_set, tasks[1].test, 6);
  const auto f = torch::cat({vit.query(batch.x), with_set(*s, adapters, batch.x)}, 1);
  const auto logits = s->method->logits(batch);
  ASSERT_EQ(logits.size(1), 6);
  for (int64_t b = 0; b < 6; ++b) {
    for (int64_t c = 0; c < 4; ++c) {
      EXPECT_NEAR(logits[b][c].item<double>(), cosine(f[b], rows[c]), 1e-5) << b << ", " << c;
    }
  }
}

TEST(Ease, EarlierSetsStayFrozenPrototypesAreMeansOrSimilaritySynthesesLogitsReweighted) {
  auto s = setup(small_run("ease"));
  const auto& tasks = s->stream->tasks;
  ASSERT_EQ(tasks.size(), 3u);
  run_task(*s, tasks[0], 2);
  EXPECT_EQ(s->method->forward_passes(), 1);
  const auto first = snapshot(*s->method);
  run_task(*s, tasks[1], 2);
  EXPECT_EQ(s->method->forward_passes(), 2);
  run_task(*s, tasks[2], 2);
  EXPECT_EQ(s->method->forward_passes(), 3);
  const auto last = snapshot(*s->method);
  int changed = 0;
  for (const auto& [name, t] : first) {
    if (name.rfind("ease.sets.0.", 0) == 0 || name.rfind("ease.heads.0.", 0) == 0) {
      EXPECT_TRUE(torch::equal(last.at(name), t)) << name << " changed after task 1";
    }
    if (name.rfind("ease.sets.1.", 0) == 0) changed += !torch::equal(last.at(name), t);
  }
  EXPECT_GT(changed, 0) << "task 2 trained its own set";

  std::vector<AdapterSet> sets;
  for (int k = 0; k < 3; ++k)
    sets.push_back(adapter_copy(*s, "ease.sets." + std::to_string(k) + "."));
  const auto W = last.at("ease.prototypes");  // {C, tasks, D}
  ASSERT_EQ(W.size(0), 6);
  ASSERT_EQ(W.size(1), 3);
  // Own prototypes: class means in subspaces 0..t of the class's task t (task 2's classes here).
  {
    const auto batch = all_of(*s->stream, tasks[1]);
    for (int d = 0; d < 2; ++d) {
      const auto f = with_set(*s, sets[static_cast<size_t>(d)], batch.x);
      for (int64_t c = 2; c < 4; ++c) {
        const auto mean = f.index_select(0, (batch.y == c).nonzero().squeeze(1)).mean(0);
        EXPECT_TRUE(torch::allclose(W[c][d], mean, 1e-5, 1e-6)) << "class " << c << " in " << d;
      }
    }
  }
  // Synthesised: W[C_i, d] = softmax_row(cos(W[C_i, i], W[C_{d..t}, i])) W[C_{d..t}, d].
  const std::vector<std::array<int64_t, 2>> pairs = {{0, 1}, {0, 2}, {1, 2}};
  for (const auto& [i, d] : pairs) {
    const int64_t first_newer = 2 * d, newer = 6 - first_newer;
    for (int64_t c = 2 * i; c < 2 * i + 2; ++c) {
      std::vector<double> sim;
      double total = 0;
      for (int64_t k = 0; k < newer; ++k) {
        sim.push_back(std::exp(cosine(W[c][i], W[first_newer + k][i])));
        total += sim.back();
      }
      auto want = torch::zeros_like(W[c][d]);
      for (int64_t k = 0; k < newer; ++k)
        want += (sim[static_cast<size_t>(k)] / total) * W[first_newer + k][d];
      EXPECT_TRUE(torch::allclose(W[c][d], want, 1e-5, 1e-6)) << "class " << c << " in " << d;
    }
  }
  // Logits by hand: cos in the class's own subspace + (0.1 / 2) x the others' cosines.
  const auto batch = load_batch(*s->stream, *s->stream->test_set, tasks[0].test, 5);
  std::vector<torch::Tensor> f;
  for (auto& set : sets) f.push_back(with_set(*s, set, batch.x));
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = s->method->logits(batch);
  }
  for (int64_t b = 0; b < 5; ++b) {
    for (int64_t c = 0; c < 6; ++c) {
      double want = 0;
      for (int64_t j = 0; j < 3; ++j) {
        want += (j == c / 2 ? 1.0 : 0.1 / 2) * cosine(f[static_cast<size_t>(j)][b], W[c][j]);
      }
      EXPECT_NEAR(logits[b][c].item<double>(), want, 1e-5) << b << ", " << c;
    }
  }
}

TEST(Ease, WithoutReweightingALogitIsTheCosineOfTheConcatenatedFeaturesAndPrototypes) {
  auto user = small_run("ease");
  user["ease"] = {{"use_reweight", false}};
  auto s = setup(user);
  const auto& tasks = s->stream->tasks;
  run_task(*s, tasks[0], 1);
  run_task(*s, tasks[1], 1);
  const auto W = testing::probe(*s->method).tensors.at("ease.prototypes").narrow(1, 0, 2);
  const auto batch = load_batch(*s->stream, *s->stream->test_set, tasks[1].test, 4);
  const auto f = torch::cat({with_set(*s, adapter_copy(*s, "ease.sets.0."), batch.x),
                             with_set(*s, adapter_copy(*s, "ease.sets.1."), batch.x)},
                            1);
  torch::NoGradGuard no_grad;
  const auto logits = s->method->logits(batch);
  for (int64_t b = 0; b < 4; ++b) {
    for (int64_t c = 0; c < 4; ++c) {
      EXPECT_NEAR(logits[b][c].item<double>(), cosine(f[b], W[c].reshape({-1})), 1e-5)
          << b << ", " << c;
    }
  }
}

// One AdaptFormer adapter per block of ViT-B/16: Down 768 x 64 + 64, Up 64 x 768 + 768.
constexpr int64_t kAdapters = 12 * (768 * 64 + 64 + 64 * 768 + 768);

TEST(AperAdapter, CountOnVitB16IsTheAdaptersAndHeadThenNothingTrainsStoredAdaptersAndRows) {
  auto s = setup({{"benchmark", "synthetic"}, {"method", "aper-adapter"}, {"backbone", "vit-b16"}});
  const auto& tasks = s->stream->tasks;
  const int64_t K = tasks[0].class_end - tasks[0].class_begin;
  s->method->begin_task(tasks[0]);
  EXPECT_EQ(count_parameters(s->method->trainable_parameters()), kAdapters + K * 768 + 1);
  EXPECT_EQ(s->method->stored_parameters(), kAdapters + K * 2 * 768);
  s->method->begin_task(tasks[1]);
  EXPECT_EQ(count_parameters(s->method->trainable_parameters()), 0);
  EXPECT_EQ(s->method->stored_parameters(), kAdapters + tasks[1].class_end * 2 * 768);
  EXPECT_EQ(s->method->forward_passes(), 2);
}

TEST(Ease, CountOnVitB16IsASetAndHeadPerTaskStoredSetsAndPrototypesPerSubspace) {
  auto s = setup({{"benchmark", "synthetic"}, {"method", "ease"}, {"backbone", "vit-b16"}});
  const auto& tasks = s->stream->tasks;
  for (int64_t t = 0; t < 2; ++t) {
    const auto& task = tasks[static_cast<size_t>(t)];
    s->method->begin_task(task);
    EXPECT_EQ(count_parameters(s->method->trainable_parameters()),
              kAdapters + (task.class_end - task.class_begin) * 768 + 1);
    EXPECT_EQ(s->method->stored_parameters(), (t + 1) * kAdapters + task.class_end * (t + 1) * 768);
    EXPECT_EQ(s->method->forward_passes(), t + 1);
  }
}

}  // namespace
}  // namespace clbench::aper_testing
