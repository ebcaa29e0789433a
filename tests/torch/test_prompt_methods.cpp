// The prompt methods (l2p, l2p++, dualprompt, coda-prompt, hide-prompt) on the synthetic stream
// with the small ViT: what they select, what they train, what they keep, and what they count.
#include <map>

#include <gtest/gtest.h>

#include "datasets/loader.h"
#include "harness/models/vit.h"
#include "harness/run/plan.h"
#include "methods/prompts/class_statistics.h"
#include "methods/prompts/prompt_method.h"
#include "support.h"
#include "vit_fixtures.h"

namespace clbench::prompt_testing {
namespace {

using testing::setup;

// Every tensor of a method's declared state, by name (no copy: the method's own tensors).
class StateTensors : public StateVisitor {
 public:
  std::map<std::string, torch::Tensor> tensors;
  explicit StateTensors(Method& m) { m.state(*this); }
  const torch::Tensor& operator[](const std::string& name) const {
    const auto it = tensors.find(name);
    if (it == tensors.end()) throw Error("test: the state has no tensor " + name);
    return it->second;
  }

  using StateVisitor::operator();
  bool loading() const override { return false; }
  void operator()(const std::string& name, torch::Tensor& value) override {
    if (value.defined()) tensors[key(name)] = value;
  }
  void operator()(const std::string&, int64_t&) override {}
  void operator()(const std::string&, double&) override {}
  void operator()(const std::string&, std::string&) override {}
  void operator()(const std::string&, at::Generator&) override {}
  void operator()(const std::string&, std::vector<int64_t>&) override {}
  void operator()(const std::string&, std::vector<double>&) override {}

 protected:
  int64_t count(const std::string&, int64_t size) override { return size; }
  void in_place(const std::string& name, torch::Tensor& value) override { (*this)(name, value); }
};

nlohmann::json prompt_run(const std::string& method,
                          nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json user = {{"benchmark", "synthetic"},
                         {"method", method},
                         {"backbone", "vit-tiny28"},
                         {"synthetic", {{"side", 28}, {"classes", 6}}},
                         {"epochs", 1},
                         {"batch_size", 16},
                         {"threads", 1}};
  user.merge_patch(extra);
  return user;
}

VitImpl& vit_of(testing::Setup& s) {
  return *std::dynamic_pointer_cast<VitImpl>(s.model->backbone);
}

Batch batch_of(const TaskStream& stream, const Task& task, int64_t n) {
  std::vector<int64_t> idx(task.train.begin(), task.train.begin() + n);
  return load_batch(stream, *stream.train_set, idx, n, 1);
}

// The head's logits with the ViT under `given` instead of the method's hooks; `mean_of` > 0: the
// head reads the mean of that many prompt tokens (L2P), else the class token.
torch::Tensor logits_with(testing::Setup& s, const std::shared_ptr<vit_testing::TestHooks>& given,
                          const torch::Tensor& x, int64_t mean_of = 0) {
  auto& vit = vit_of(s);
  auto kept = vit.hooks;
  vit.hooks = given;
  torch::NoGradGuard no_grad;
  const auto features = mean_of > 0 ? vit.tokens(x).narrow(1, 1, mean_of).mean(1) : vit.forward(x);
  vit.hooks = kept;
  return s.model->head->forward(features);
}

// CE on the current task's classes, as the prompt methods' code computes it.
torch::Tensor current_task_ce(const torch::Tensor& logits, const Batch& b, const Task& t) {
  return torch::nn::functional::cross_entropy(
      logits.narrow(1, t.class_begin, t.class_end - t.class_begin), b.y - t.class_begin);
}

// Adam steps on the task's first samples, as the trainer takes them.
void train_task(testing::Setup& s, const Task& task, int steps) {
  s.method->begin_task(task);
  torch::optim::Adam adam(s.method->trainable_parameters(), torch::optim::AdamOptions(0.01));
  for (int i = 0; i < steps; ++i) {
    adam.zero_grad();
    s.method->loss(batch_of(*s.stream, task, 16)).backward();
    adam.step();
  }
  s.method->end_task(task);
}

KeyValuePrefix halves(const torch::Tensor& p) {  // {B, n, L, D} or {B, L, D}: CODA's split
  const int64_t half = p.size(-2) / 2, B = p.size(0), D = p.size(-1);
  return {p.narrow(-2, 0, half).reshape({B, -1, D}), p.narrow(-2, half, half).reshape({B, -1, D})};
}

TEST(L2p, SelectsTheTopNKeysByCosineReadsThePromptMeanAndPullsTheKeys) {
  auto s = setup(prompt_run("l2p", {{"l2p", {{"pool", 6}, {"length", 3}, {"top_k", 2}}}}));
  const auto& task = s->stream->tasks[0];
  train_task(*s, task, 2);  // keys that differ from their initial draw
  const StateTensors state(*s->method);
  const auto &prompts = state["l2p.prompts"], &keys = state["l2p.keys"];
  const auto batch = batch_of(*s->stream, task, 8);
  const auto query = vit_of(*s).query(batch.x);
  // cosine of every query with every key, top 2 by hand
  const auto q = query / query.norm(2, 1, true), k = keys.detach() / keys.detach().norm(2, 1, true);
  const auto cos = torch::matmul(q, k.t());
  auto given = std::make_shared<vit_testing::TestHooks>();
  std::vector<torch::Tensor> rows;
  std::vector<double> pulled;
  for (int64_t b = 0; b < 8; ++b) {
    std::vector<std::pair<double, int64_t>> order;
    for (int64_t m = 0; m < 6; ++m) order.push_back({cos[b][m].item<double>(), m});
    std::sort(order.rbegin(), order.rend());
    rows.push_back(torch::cat({prompts[order[0].second], prompts[order[1].second]}).detach());
    pulled.push_back(order[0].first + order[1].first);
  }
  given->tokens = torch::stack(rows);  // {8, 2 x 3, D}
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = s->method->logits(batch);
  }
  const auto expected = logits_with(*s, given, batch.x, 6);
  EXPECT_TRUE(torch::allclose(logits, expected, 1e-5, 1e-5))
      << (logits - expected).abs().max().item<double>();
  // loss = CE on the task's classes - pull x mean over the batch of the selected keys' cosines
  double mean_pull = 0;
  for (double p : pulled) mean_pull += p / 8.0;
  const double want = current_task_ce(expected, batch, task).item<double>() - 0.1 * mean_pull;
  EXPECT_NEAR(s->method->loss(batch).item<double>(), want, 1e-5);
}

TEST(L2pPlusPlus, CountOnVitB16IsPool30TimesLength20PlusKeysAtBlock0) {
  auto s = setup({{"benchmark", "synthetic"}, {"method", "l2p++"}, {"backbone", "vit-b16"}});
  s->method->begin_task(s->stream->tasks[0]);
  const int64_t head = 768 * s->stream->num_classes() + s->stream->num_classes();
  const int64_t prompts = 30 * 20 * 768 + 30 * 768;  // 483,840
  EXPECT_EQ(count_parameters(s->method->trainable_parameters()), prompts + head);
  EXPECT_EQ(s->method->stored_parameters(), prompts + head);
  EXPECT_EQ(s->method->forward_passes(), 2);
}

TEST(L2pPlusPlus, PrefixesBlockZeroWithTheSelectedPromptsKeyAndValueHalves) {
  auto s = setup(prompt_run("l2p++", {{"l2p++", {{"pool", 5}, {"length", 4}, {"top_k", 2}}}}));
  const auto& task = s->stream->tasks[0];
  train_task(*s, task, 2);
  const StateTensors state(*s->method);
  const auto prompts = state["l2p++.prompts.0.tensor"].detach(),
             keys = state["l2p++.keys.0.tensor"].detach();
  const auto batch = batch_of(*s->stream, task, 8);
  const auto query = vit_of(*s).query(batch.x);
  const auto cos =
      torch::matmul(query / query.norm(2, 1, true), (keys / keys.norm(2, 1, true)).t());
  const auto ids = std::get<1>(cos.topk(2, 1));
  auto given = std::make_shared<vit_testing::TestHooks>();
  given->prefixes = {halves(prompts.index_select(0, ids.flatten()).reshape({8, 2, 4, -1}))};
  torch::NoGradGuard no_grad;
  const auto expected = logits_with(*s, given, batch.x);
  EXPECT_TRUE(torch::allclose(s->method->logits(batch), expected, 1e-5, 1e-5));
}

TEST(DualPrompt, TrainsTheTrueTasksEPromptAndTestsWithTheTopKey) {
  auto s = setup(prompt_run("dualprompt", {{"dualprompt", {{"pool", 4}}}}));
  const auto& tasks = s->stream->tasks;
  train_task(*s, tasks[0], 2);
  s->method->begin_task(tasks[1]);
  const auto batch = batch_of(*s->stream, tasks[1], 8);
  const StateTensors state(*s->method);
  for (auto [name, t] : state.tensors) t.mutable_grad().reset();  // task 1's
  s->method->loss(batch).backward();
  for (const std::string block : {"0", "1"}) {  // E-prompts on blocks 2, 3 of the 4-block ViT
    const auto e = "dualprompt.e." + block + ".", k = "dualprompt.keys." + block + ".";
    EXPECT_TRUE(state[e + "1.tensor"].grad().defined()) << "task 2's E-prompt trains in task 2";
    EXPECT_TRUE(state[k + "1.tensor"].grad().defined()) << "and its key is pulled";
    for (const std::string other : {"0", "2", "3"}) {
      EXPECT_FALSE(state[e + other + ".tensor"].grad().defined()) << "E-prompt " << other;
      EXPECT_FALSE(state[k + other + ".tensor"].grad().defined()) << "key " << other;
    }
  }
  EXPECT_TRUE(state["dualprompt.g.0.tensor"].grad().defined()) << "the G-prompt always trains";
  // Test: each E block takes the prompt of its own top-1 key; G-prompts on blocks 0, 1.
  const auto query = vit_of(*s).query(batch.x);
  auto given = std::make_shared<vit_testing::TestHooks>();
  given->prefixes.resize(4);
  for (int b = 0; b < 2; ++b) {
    given->prefixes[b] =
        halves(state["dualprompt.g." + std::to_string(b) + ".tensor"].detach().unsqueeze(0).expand(
            {8, -1, -1}));
  }
  for (int i = 0; i < 2; ++i) {
    std::vector<torch::Tensor> keys, prompts;
    for (int m = 0; m < 4; ++m) {
      const auto suffix = std::to_string(i) + "." + std::to_string(m) + ".tensor";
      keys.push_back(state["dualprompt.keys." + suffix].detach());
      prompts.push_back(state["dualprompt.e." + suffix].detach());
    }
    const auto K = torch::stack(keys);
    const auto ids =
        torch::matmul(query / query.norm(2, 1, true), (K / K.norm(2, 1, true)).t()).argmax(1);
    given->prefixes[static_cast<size_t>(2 + i)] =
        halves(torch::stack(prompts).index_select(0, ids));
  }
  torch::NoGradGuard no_grad;
  const auto expected = logits_with(*s, given, batch.x);
  EXPECT_TRUE(torch::allclose(s->method->logits(batch), expected, 1e-5, 1e-5));
}

TEST(CodaPrompt, EarlierComponentsStayBitwiseNewOnesAreOrthogonalAndWeightsFollowTheFormula) {
  // 3 tasks, pool 9: 3 components per task on blocks 0-3 of the 4-block ViT.
  auto s = setup(prompt_run("coda-prompt", {{"coda-prompt", {{"pool", 9}, {"length", 4}}}}));
  const auto& tasks = s->stream->tasks;
  ASSERT_EQ(tasks.size(), 3u);
  train_task(*s, tasks[0], 3);
  std::map<std::string, torch::Tensor> first;
  for (const auto& [name, t] : StateTensors(*s->method).tensors) first[name] = t.detach().clone();
  s->method->begin_task(tasks[1]);
  {
    const StateTensors state(*s->method);
    for (const std::string part : {"keys", "attention", "prompts"}) {
      const auto old = state["coda.tasks.0.blocks.0." + part].detach().flatten(1);
      const auto fresh = state["coda.tasks.1.blocks.0." + part].detach().flatten(1);
      const auto unit = fresh.norm(2, 1);
      EXPECT_TRUE(torch::allclose(unit, torch::ones_like(unit), 1e-5, 1e-5)) << part;
      EXPECT_LT(torch::matmul(fresh, old.t()).abs().max().item<double>(), 1e-5)
          << part << ": new components orthogonal to the earlier ones (Gram-Schmidt)";
      EXPECT_LT((torch::matmul(fresh, fresh.t()) - torch::eye(3)).abs().max().item<double>(), 1e-5);
    }
  }
  s->method->end_task(tasks[1]);
  train_task(*s, tasks[1], 3);
  const StateTensors state(*s->method);
  for (const auto& [name, t] : first) {
    EXPECT_TRUE(torch::equal(state[name].detach(), t)) << name << " changed in a later task";
  }
  // Weights: alpha = cos(q ⊙ A_m, K_m) over every component so far; p = sum alpha_m P_m.
  const auto batch = batch_of(*s->stream, tasks[1], 8);
  const auto query = vit_of(*s).query(batch.x);
  auto given = std::make_shared<vit_testing::TestHooks>();
  for (int b = 0; b < 4; ++b) {
    const auto part = [&](const std::string& what) {
      return torch::cat({state["coda.tasks.0.blocks." + std::to_string(b) + "." + what],
                         state["coda.tasks.1.blocks." + std::to_string(b) + "." + what]})
          .detach();
    };
    const auto K = part("keys"), A = part("attention"), P = part("prompts");
    auto alpha = torch::empty({8, K.size(0)});
    for (int64_t i = 0; i < 8; ++i) {
      for (int64_t m = 0; m < K.size(0); ++m) {
        const auto qa = query[i] * A[m];
        alpha[i][m] = (qa.dot(K[m]) / (qa.norm() * K[m].norm())).item<float>();
      }
    }
    given->prefixes.push_back(halves(torch::einsum("bk,kld->bld", {alpha, P})));
  }
  torch::NoGradGuard no_grad;
  const auto expected = logits_with(*s, given, batch.x);
  EXPECT_TRUE(torch::allclose(s->method->logits(batch), expected, 1e-5, 1e-5));
}

TEST(CodaPrompt, CountOnVitB16IsFiveBlocksOfPoolOverTTimesLengthPlusTwo) {
  auto s = setup({{"benchmark", "synthetic"}, {"method", "coda-prompt"}, {"backbone", "vit-b16"}});
  const auto T = static_cast<int64_t>(s->stream->tasks.size());
  const int64_t C = s->stream->num_classes(), head = 768 * C + C;
  const int64_t per_task = 5 * (100 / T) * (8 + 2) * 768;  // P {n, 8, D}, K and A {n, D}
  s->method->begin_task(s->stream->tasks[0]);
  EXPECT_EQ(count_parameters(s->method->trainable_parameters()), per_task + head);
  EXPECT_EQ(s->method->stored_parameters(), per_task + head);
  s->method->begin_task(s->stream->tasks[1]);
  EXPECT_EQ(count_parameters(s->method->trainable_parameters()), per_task + head);
  EXPECT_EQ(s->method->stored_parameters(), 2 * per_task + head);
}

TEST(PromptMethods, OnlyPromptsKeysAndTheHeadTrainAndEveryOneCountsTwoPasses) {
  for (const std::string method : {"l2p", "l2p++", "dualprompt", "coda-prompt", "hide-prompt"}) {
    auto s =
        setup(prompt_run(method, method == "coda-prompt" ? nlohmann::json{{method, {{"pool", 9}}}}
                                                         : nlohmann::json::object()));
    const auto& task = s->stream->tasks[0];
    s->method->begin_task(task);
    s->method->loss(batch_of(*s->stream, task, 8)).backward();
    for (const auto& p : s->model->backbone->parameters()) {
      EXPECT_FALSE(p.requires_grad() || p.grad().defined()) << method << ": a backbone weight";
    }
    EXPECT_TRUE(s->model->head->weight.grad().defined()) << method;
    for (const auto& p : s->method->trainable_parameters()) {
      EXPECT_TRUE(p.grad().defined()) << method << ": a trained tensor without a gradient";
    }
    EXPECT_EQ(s->method->forward_passes(), 2) << method;
  }
}

TEST(ClassStatistics, KMeansFindsSeparatedClustersWithTheirMeansAndPopulationVariances) {
  torch::manual_seed(3);
  const auto a = torch::randn({40, 3}) * 0.1 + 5.0, b = torch::randn({60, 3}) * 0.2 - 5.0;
  auto gen = make_generator(0, 7);
  const auto s = multi_centroid(torch::cat({a, b}), 2, gen);
  ASSERT_EQ(s.means.size(0), 2);
  const int first = s.means[0][0].item<double>() > 0 ? 0 : 1;  // the cluster of a
  EXPECT_TRUE(torch::allclose(s.means[first], a.mean(0), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(s.means[1 - first], b.mean(0), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(s.variances[first], a.var(0, false), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(s.variances[1 - first], b.var(0, false), 1e-5, 1e-5));
  // Fewer samples than clusters: one cluster per sample, each of variance 0 (never drawn).
  const auto few = multi_centroid(a.narrow(0, 0, 2), 10, gen);
  EXPECT_EQ(few.means.size(0), 2);
  EXPECT_EQ(few.variances.abs().max().item<double>(), 0.0);
  GaussianDraws draws;
  draws.add(4, few);
  EXPECT_TRUE(draws.clusters.empty());
}

TEST(ClassStatistics, ADrawDependsOnItsIdAloneSoAnyShardingDrawsTheSameSamples) {
  GaussianDraws draws;
  draws.seed = 11;
  draws.add(0, {torch::zeros({1, 4}), torch::ones({1, 4})});
  draws.add(1, {torch::full({2, 4}, 10.0), torch::full({2, 4}, 0.25)});
  const std::vector<int64_t> ids = {0, 1, 2, 3, 4, 5, 6, 7};
  const auto [all, labels] = draws.draw(ids, torch::kCPU);
  const auto [head, head_labels] = draws.draw({0, 1, 2}, torch::kCPU);
  const auto [tail, tail_labels] = draws.draw({3, 4, 5, 6, 7}, torch::kCPU);
  EXPECT_TRUE(torch::equal(all, torch::cat({head, tail})));
  EXPECT_TRUE(torch::equal(labels, torch::cat({head_labels, tail_labels})));
  // each sample near its own class's mean (std 1 and 0.5 plus 1e-4)
  for (int64_t i = 0; i < 8; ++i) {
    const double centre = labels[i].item<int64_t>() == 0 ? 0.0 : 10.0;
    EXPECT_LT((all[i] - centre).abs().max().item<double>(), 6.0);
  }
}

TEST(HidePrompt, TheFrozenPassPicksTheTaskWhosePromptThePromptedPassUses) {
  auto s = setup(prompt_run(
      "hide-prompt",
      {{"hide-prompt", {{"tii_epochs", 3}, {"ca_epochs", 2}, {"centroids", 2}, {"length", 2}}}}));
  const auto& tasks = s->stream->tasks;
  train_task(*s, tasks[0], 2);
  s->method->begin_task(tasks[1]);
  {
    torch::optim::Adam adam(s->method->trainable_parameters(), torch::optim::AdamOptions(0.01));
    for (int i = 0; i < 2; ++i) {
      adam.zero_grad();
      s->method->loss(batch_of(*s->stream, tasks[1], 16)).backward();
      adam.step();
    }
  }
  const auto before = StateTensors(*s->method)["hide.prompts.1.tensor"].detach().clone();
  s->method->end_task(tasks[1]);
  const StateTensors state(*s->method);
  const auto p0 = state["hide.prompts.0.tensor"].detach(),
             p1 = state["hide.prompts.1.tensor"].detach();
  EXPECT_TRUE(torch::allclose(p1, 0.99 * before + 0.01 * p0, 1e-6, 1e-6))
      << "after its task, a prompt becomes its momentum blend with the earlier ones";
  // Test: the task-identity classifier on the frozen feature picks a class among those seen, so a
  // task; the prompted pass uses that task's prompt (keys and values of every prompted block).
  std::vector<int64_t> idx(s->stream->tasks[1].train.begin(),
                           s->stream->tasks[1].train.begin() + 4);
  idx.insert(idx.end(), tasks[0].train.begin(), tasks[0].train.begin() + 4);
  const auto batch = load_batch(*s->stream, *s->stream->train_set, idx, 8, 1);
  auto& vit = vit_of(*s);
  torch::NoGradGuard no_grad;
  const auto query = vit.query(batch.x);
  // the classifier's own forward, through the method's state: MLP, residual, LayerNorm, head
  const auto w = [&](const std::string& n) { return state["hide.tii." + n]; };
  auto h =
      query + torch::nn::functional::linear(
                  torch::gelu(torch::nn::functional::linear(query, w("fc1.weight"), w("fc1.bias"))),
                  w("fc2.weight"), w("fc2.bias"));
  h = torch::layer_norm(h, {h.size(1)}, w("norm.weight"), w("norm.bias"), 1e-5);
  const auto classes = torch::nn::functional::linear(h, w("head.weight"), w("head.bias"))
                           .narrow(1, 0, tasks[1].class_end)
                           .argmax(1);
  auto given = std::make_shared<vit_testing::TestHooks>();
  given->prefixes.resize(4);
  std::vector<torch::Tensor> per_sample;
  for (int64_t i = 0; i < 8; ++i) per_sample.push_back(classes[i].item<int64_t>() < 2 ? p0 : p1);
  const auto chosen = torch::stack(per_sample);  // {8, blocks, 2, L, D}
  for (int64_t b = 0; b < 4; ++b) {
    given->prefixes[static_cast<size_t>(b)] = {chosen.select(1, b).select(1, 0),
                                               chosen.select(1, b).select(1, 1)};
  }
  const auto expected = logits_with(*s, given, batch.x);
  EXPECT_TRUE(torch::allclose(s->method->logits(batch), expected, 1e-5, 1e-5));
  EXPECT_EQ(s->method->forward_passes(), 2);
}

// Every paper preset plans (its keys exist and their values are valid) and sets what it says, over
// the method's defaults; a key given explicitly still wins; a benchmark without one is an error.
TEST(PaperPresets, EveryPresetPlansWithItsSettingsAndAMissingOneIsAClearError) {
  int presets = 0;
  for (const auto& method : methods()) {
    for (const auto& [benchmark, settings] : method.paper.items()) {
      nlohmann::json user = {{"benchmark", benchmark},
                             {"method", method.name},
                             {"backbone", "vit-b16"},
                             {"pretrained", "none"},
                             {"preset", "paper"}};
      const auto plan = plan_run(Config::flatten(user), false);
      for (const auto& [key, value] : settings.items()) {
        EXPECT_EQ(plan.config.at(key), value) << method.name << " on " << benchmark << ": " << key;
      }
      user["epochs"] = 1;
      EXPECT_EQ(plan_run(Config::flatten(user), false).config.integer("epochs"), 1);
      ++presets;
    }
  }
  EXPECT_GE(presets, 18);  // l2p 1, hide-prompt 2, and 5 for each of l2p++, dualprompt, coda-prompt
  testing::expect_error(
      [] {
        plan_run(Config::flatten({{"benchmark", "cub200-10"},
                                  {"method", "coda-prompt"},
                                  {"backbone", "vit-b16"},
                                  {"pretrained", "none"},
                                  {"preset", "paper"}}),
                 false);
      },
      {"'preset'", "coda-prompt", "cub200-10", "imagenet-r-10"});
}

}  // namespace
}  // namespace clbench::prompt_testing
