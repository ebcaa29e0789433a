// DyTox: task tokens through one task-attention block, per-task heads, auto_kd and the divergence
// head, the herding memory and the balanced finetuning (methods/task_tokens/dytox.cpp).
#include <algorithm>
#include <numeric>

#include <gtest/gtest.h>

#include "datasets/loader.h"
#include "harness/models/vit.h"
#include "support.h"

namespace clbench::dytox_testing {
namespace {

using testing::probe;
using testing::run_quiet;
using testing::setup;
using testing::Setup;

// A tiny DyTox run on the synthetic stream (tasks of 2 classes), without finetuning unless asked.
nlohmann::json tiny(int64_t classes, const nlohmann::json& more = nlohmann::json::object()) {
  auto user = testing::synthetic_run(
      "dytox", classes, 8,
      {{"backbone", "vit-tiny28"}, {"dytox.memory", classes}, {"dytox.finetune_epochs", 0}});
  for (const auto& [k, v] : more.items()) user[k] = v;
  return user;
}

Batch batch_of(const TaskStream& stream, const std::vector<int64_t>& idx, int64_t step = 0) {
  auto b = load_batch(stream, *stream.train_set, idx, static_cast<int64_t>(idx.size()), 1);
  b.step = StepIndex{0, 0, step, step, step};
  return b;
}

// Plain SGD steps on the method's trainable parameters over the task's first samples.
void train_steps(Setup& s, const Task& task, int steps) {
  s.model->train();
  for (int k = 0; k < steps; ++k) {
    const std::vector<int64_t> idx(task.train.begin() + 4 * k, task.train.begin() + 4 * k + 4);
    const auto params = s.method->trainable_parameters();
    s.method->loss(batch_of(*s.stream, idx, k)).backward();
    torch::NoGradGuard no_grad;
    for (auto p : params) {
      if (p.grad().defined()) {
        p.sub_(0.5 * p.grad());
        p.mutable_grad() = torch::Tensor();
      }
    }
  }
}

bool contains(const std::vector<torch::Tensor>& list, const torch::Tensor& t) {
  for (const auto& p : list)
    if (p.is_same(t)) return true;
  return false;
}

using Tensors = std::map<std::string, torch::Tensor>;

// convit.py Block with ClassAttention, by hand from the probed weights under `p` ("...tab."):
// z = LN1([t; x]); t' = t + proj(softmax(q(z_0) k(z)^T / sqrt(d)) v(z)); e = t' + MLP(LN2(t')).
torch::Tensor hand_tab(const Tensors& w, const std::string& p, const torch::Tensor& token,
                       const torch::Tensor& x, int64_t heads) {
  auto W = [&](const std::string& n) { return w.at(p + n); };
  const int64_t B = x.size(0), N = x.size(1) + 1, D = x.size(2), d = D / heads;
  const auto z = torch::layer_norm(torch::cat({token.expand({B, 1, D}), x}, 1), {D},
                                   W("norm1.weight"), W("norm1.bias"), 1e-5);
  const auto q = torch::matmul(z.select(1, 0), W("q.weight").t()).reshape({B, heads, 1, d});
  const auto k =
      torch::matmul(z, W("k.weight").t()).reshape({B, N, heads, d}).permute({0, 2, 3, 1});
  const auto v =
      torch::matmul(z, W("v.weight").t()).reshape({B, N, heads, d}).permute({0, 2, 1, 3});
  const auto a = torch::softmax(torch::matmul(q, k) / std::sqrt(static_cast<double>(d)), -1);
  const auto o = torch::matmul(a, v).reshape({B, D});
  const auto t = token.reshape({1, D}) + torch::linear(o, W("proj.weight"), W("proj.bias"));
  const auto h = torch::layer_norm(t, {D}, W("norm2.weight"), W("norm2.bias"), 1e-5);
  return t + torch::linear(torch::gelu(torch::linear(h, W("fc1.weight"), W("fc1.bias"))),
                           W("fc2.weight"), W("fc2.bias"));
}

// dytox.py ContinualClassifier: Linear(LayerNorm(e)).
torch::Tensor hand_head(const Tensors& w, const std::string& p, const torch::Tensor& e) {
  const int64_t D = e.size(1);
  return torch::linear(
      torch::layer_norm(e, {D}, w.at(p + "norm.weight"), w.at(p + "norm.bias"), 1e-5),
      w.at(p + "linear.weight"), w.at(p + "linear.bias"));
}

// The ViT's blocks through its own modules: the patch tokens, without the class token and the
// final norm.
torch::Tensor hand_patches(VitImpl& vit, const torch::Tensor& images) {
  auto x = vit.patch_embed->forward(vit.prepare(images));
  const int64_t B = x.size(0), N = x.size(1);
  x = torch::cat({vit.cls_token.expand({B, -1, -1}), x}, 1) + vit.pos_embed;
  for (size_t i = 0; i < vit.depth(); ++i) x = vit.block(i).forward(x);
  return x.narrow(1, 1, N);
}

// Embeddings e_i of every task token, by hand.
std::vector<torch::Tensor> hand_embeddings(Setup& s, const Tensors& w, const torch::Tensor& x,
                                           int64_t tasks) {
  auto& vit = *std::dynamic_pointer_cast<VitImpl>(s.model->backbone);
  const auto patches = hand_patches(vit, x);
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < tasks; ++i) {
    out.push_back(hand_tab(w, "dytox.decoder.tab.",
                           w.at("dytox.decoder.token_" + std::to_string(i)), patches,
                           vit.options.heads()));
  }
  return out;
}

torch::Tensor hand_logits(const Tensors& w, const std::vector<torch::Tensor>& e) {
  std::vector<torch::Tensor> parts;
  for (size_t i = 0; i < e.size(); ++i)
    parts.push_back(hand_head(w, "dytox.decoder.heads." + std::to_string(i) + ".", e[i]));
  return torch::cat(parts, 1);
}

TEST(Dytox, OldTaskTokensAndHeadsGetNoGradientAndStayBitwiseUnchangedThroughALaterTask) {
  auto s = setup(tiny(4));
  const auto& tasks = s->stream->tasks;
  s->method->begin_task(tasks[0]);
  train_steps(*s, tasks[0], 2);
  s->method->end_task(tasks[0]);
  s->method->begin_task(tasks[1]);
  auto w = probe(*s->method).tensors;
  ASSERT_TRUE(w.count("dytox.decoder.token_1"));
  std::map<std::string, torch::Tensor> old, all;
  for (const auto& [k, t] : w) {
    all[k] = t.detach().clone();
    if (k.rfind("dytox.decoder.token_0", 0) == 0 || k.rfind("dytox.decoder.heads.0.", 0) == 0)
      old[k] = t;
  }
  ASSERT_EQ(old.size(), 5u) << "token, LayerNorm weight and bias, Linear weight and bias";
  const auto trainable = s->method->trainable_parameters();
  for (const auto& [k, t] : old) {
    EXPECT_FALSE(t.requires_grad()) << k;
    EXPECT_FALSE(contains(trainable, t)) << k;
  }
  EXPECT_TRUE(contains(trainable, w.at("dytox.decoder.token_1")));
  EXPECT_TRUE(contains(trainable, w.at("dytox.decoder.heads.1.linear.weight")));
  // One backward: no gradient reaches them; the new token's does.
  const std::vector<int64_t> idx(tasks[1].train.begin(), tasks[1].train.begin() + 4);
  s->method->loss(batch_of(*s->stream, idx)).backward();
  for (const auto& [k, t] : old) EXPECT_FALSE(t.grad().defined()) << k;
  EXPECT_TRUE(w.at("dytox.decoder.token_1").grad().defined());
  for (const auto& p : trainable) p.mutable_grad() = torch::Tensor();
  train_steps(*s, tasks[1], 3);
  s->method->end_task(tasks[1]);
  for (const auto& [k, t] : old) EXPECT_TRUE(torch::equal(t, all.at(k))) << k;
  for (const char* k : {"dytox.decoder.token_1", "dytox.decoder.heads.1.linear.weight",
                        "dytox.decoder.tab.q.weight"}) {
    EXPECT_FALSE(torch::equal(w.at(k), all.at(k))) << k << " trains";
  }
}

TEST(Dytox, BalancedFinetuningKeepsTheEncoderAndTrainsTheTabTokensAndHeads) {
  auto s = setup(tiny(4, {{"dytox.finetune_epochs", 2}}));
  const auto& tasks = s->stream->tasks;
  s->method->begin_task(tasks[0]);
  s->method->end_task(tasks[0]);
  s->method->begin_task(tasks[1]);
  auto w = probe(*s->method).tensors;
  const auto before_decoder = w.at("dytox.decoder.token_0").clone();
  const auto before_tab = w.at("dytox.decoder.tab.fc1.weight").clone();
  std::vector<torch::Tensor> encoder;
  for (const auto& p : s->model->backbone->parameters()) encoder.push_back(p.detach().clone());
  s->method->end_task(tasks[1]);
  const auto params = s->model->backbone->parameters();
  for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(torch::equal(params[i], encoder[i]));
  EXPECT_FALSE(torch::equal(w.at("dytox.decoder.token_0"), before_decoder));
  EXPECT_FALSE(torch::equal(w.at("dytox.decoder.tab.fc1.weight"), before_tab));
  EXPECT_FALSE(w.at("dytox.decoder.token_0").requires_grad()) << "frozen again after it";
}

TEST(Dytox, MemoryStaysWithinItsBudgetAndIsClassBalancedAfterEveryTask) {
  auto s = setup(tiny(6, {{"dytox.memory", 9}}));
  for (const auto& t : s->stream->tasks) {
    s->method->begin_task(t);
    s->method->end_task(t);
    const auto state = probe(*s->method);
    const auto& counts = state.ints.at("counts");
    ASSERT_EQ(static_cast<int64_t>(counts.size()), t.class_end) << "every seen class";
    const int64_t total = std::accumulate(counts.begin(), counts.end(), int64_t{0});
    EXPECT_EQ(total, std::min<int64_t>(9, 8 * t.class_end));
    const auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
    EXPECT_LE(*hi - *lo, 1) << "class-balanced";
    EXPECT_EQ(s->method->memory().samples, total);
  }
  // A whole run records it after every task.
  const auto r = run_quiet(tiny(6, {{"dytox.memory", 7}, {"dytox.finetune_epochs", 1}}));
  ASSERT_EQ(r.memory_samples.size(), 3u);
  for (int64_t n : r.memory_samples) EXPECT_LE(n, 7);
  EXPECT_EQ(r.memory_samples.back(), 7);
  EXPECT_GT(r.memory_bytes.back(), 7 * 8);
}

TEST(Dytox, LogitsAreThePerTokenHeadsOverTheTabOutputsConcatenatedInClassOrder) {
  auto s = setup(tiny(6));
  const auto& tasks = s->stream->tasks;
  for (int t = 0; t < 2; ++t) {
    s->method->begin_task(tasks[static_cast<size_t>(t)]);
    s->method->end_task(tasks[static_cast<size_t>(t)]);
  }
  auto w = probe(*s->method).tensors;
  {
    torch::NoGradGuard no_grad;  // distinct tokens and heads
    w.at("dytox.decoder.token_1").normal_(0.0, 0.5);
    w.at("dytox.decoder.heads.0.norm.bias").normal_(0.0, 0.1);
  }
  s->model->eval();
  torch::NoGradGuard no_grad;
  const Batch test = load_batch(*s->stream, *s->stream->test_set, tasks[0].test,
                                static_cast<int64_t>(tasks[0].test.size()), 1);
  const auto logits = s->method->logits(test);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{test.x.size(0), 6}));
  const auto expected = hand_logits(w, hand_embeddings(*s, w, test.x, 2));
  ASSERT_EQ(expected.size(1), 4);
  EXPECT_TRUE(torch::allclose(logits.narrow(1, 0, 4), expected, 1e-5, 1e-5))
      << (logits.narrow(1, 0, 4) - expected).abs().max();
  EXPECT_TRUE(torch::all(logits.narrow(1, 4, 2).isneginf()).item<bool>()) << "unseen classes";
  EXPECT_EQ(s->method->forward_passes(), 1);
}

TEST(Dytox, AutoKdWeighsByTheOldClassShareAndTheDivergenceHeadOnlyTrains) {
  auto s = setup(tiny(6));
  const auto& tasks = s->stream->tasks;
  for (int t = 0; t < 2; ++t) {
    s->method->begin_task(tasks[static_cast<size_t>(t)]);
    s->method->end_task(tasks[static_cast<size_t>(t)]);
  }
  EXPECT_EQ(probe(*s->method).ints.at("dytox.has_div"), std::vector<int64_t>{1});
  s->method->begin_task(tasks[2]);  // old classes 0-3, seen 0-5: lambda = 4/6
  std::vector<int64_t> idx = {tasks[2].train[0], tasks[2].train[1], tasks[1].train[0],
                              tasks[0].train[0]};
  const Batch b = batch_of(*s->stream, idx);
  auto w = probe(*s->method).tensors;
  torch::Tensor old_logits;
  {
    torch::NoGradGuard no_grad;
    old_logits = s->method->logits(b).narrow(1, 0, 4);  // the old model is this model now
    for (const auto& p : s->method->trainable_parameters()) p.add_(0.02 * torch::randn_like(p));
  }
  const auto loss = s->method->loss(b);
  torch::NoGradGuard no_grad;
  const auto e = hand_embeddings(*s, w, b.x, 3);
  const auto logits = hand_logits(w, e);
  const auto onehot = torch::one_hot(b.y, 6).to(torch::kFloat);
  const auto bce =
      torch::binary_cross_entropy_with_logits(logits, onehot, {}, {}, at::Reduction::None).mean(1);
  const auto p_old = torch::softmax(old_logits, 1);
  const auto kd =
      (p_old * (torch::log(p_old) - torch::log_softmax(logits.narrow(1, 0, 4), 1))).sum(1) / 4.0;
  EXPECT_GT(kd.min().item<double>(), 0.0) << "the perturbed model differs from the old one";
  const double lambda = 4.0 / 6.0;
  // The divergence head on the newest embedding: old classes -> 0, new class c -> c - 4 + 1.
  const auto div = hand_head(w, "dytox.div.", e[2]);
  ASSERT_EQ(div.size(1), 3);
  std::vector<int64_t> targets;
  for (int64_t i = 0; i < b.y.size(0); ++i) {
    const int64_t y = b.y[i].item<int64_t>();
    targets.push_back(y < 4 ? 0 : y - 4 + 1);
  }
  ASSERT_EQ(std::count(targets.begin(), targets.end(), 0), 2) << "two old, two new samples";
  const auto div_target = torch::tensor(targets, torch::kLong);
  const auto div_bce =
      torch::binary_cross_entropy_with_logits(div, torch::one_hot(div_target, 3).to(torch::kFloat),
                                              {}, {}, at::Reduction::None)
          .mean(1);
  const auto expected = ((1 - lambda) * bce + lambda * kd + 0.1 * div_bce).mean();
  EXPECT_NEAR(loss.item<double>(), expected.item<double>(), 1e-5);
  // Without the KD weighting the loss would differ clearly.
  EXPECT_GT(std::abs(((bce + 0.1 * div_bce).mean() - expected).item<double>()), 1e-3);
  // Prediction: one column per class, no divergence outputs.
  EXPECT_EQ(s->method->logits(b).size(1), 6);
}

// Per task: trainable = encoder + TAB + the new token and head (+ the divergence head from task
// 2); stored = encoder + TAB + every token and head.
TEST(Dytox, ParameterCountsPerTaskFollowTheFormulasOnVitB16) {
  auto s = setup(testing::synthetic_run("dytox", 4, 2, {{"backbone", "vit-b16"}}));
  const int64_t D = 768, H = 3072, P = 196, depth = 12;
  const int64_t block = 2 * D + 3 * D * D + 3 * D + D * D + D + 2 * D + D * H + H + H * D + D;
  const int64_t encoder = D + (P + 1) * D + (3 * 16 * 16 * D + D) + depth * block;
  const int64_t tab = 2 * D + 3 * D * D + D * D + D + 2 * D + D * H + H + H * D + D;
  const auto head = [&](int64_t classes) { return 2 * D + D * classes + classes; };
  const auto& tasks = s->stream->tasks;
  s->method->begin_task(tasks[0]);
  EXPECT_EQ(count_parameters(s->method->trainable_parameters()), encoder + tab + D + head(2));
  EXPECT_EQ(s->method->stored_parameters(), encoder + tab + D + head(2));
  s->method->begin_task(tasks[1]);
  EXPECT_EQ(count_parameters(s->method->trainable_parameters()),
            encoder + tab + D + head(2) + head(3));
  EXPECT_EQ(s->method->stored_parameters(), encoder + tab + 2 * (D + head(2)));
}

}  // namespace
}  // namespace clbench::dytox_testing
