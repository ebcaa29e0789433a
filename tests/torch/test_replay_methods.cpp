// Replay, distillation and gradient projection (issue 17): the GEM/A-GEM projections against
// known solutions, and each method's distinguishing state (DER's logits at insertion, MAS's
// importance, GEM's constraints, iCaRL's nearest mean of exemplars), read through its declared
// state.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "datasets/loader.h"
#include "methods/gradient_projection.h"
#include "support.h"

namespace clbench {
namespace {

using testing::probe;
using testing::run_quiet;
using testing::setup;
using testing::Setup;

// A training batch of the given samples, as the trainer's step `step` of the stream would load it.
Batch batch_of(const TaskStream& stream, const std::vector<int64_t>& idx, int64_t step = 0) {
  auto b = load_batch(stream, *stream.train_set, idx, static_cast<int64_t>(idx.size()), 1);
  b.step = StepIndex{0, 0, step, step, step};
  return b;
}

std::vector<int64_t> first_n(const std::vector<int64_t>& v, size_t n) {
  return {v.begin(), v.begin() + static_cast<std::ptrdiff_t>(std::min(n, v.size()))};
}

// ---- GEM's QP and A-GEM's projection ----

Vector times(const Vector& v, double a) {
  Vector out = v;
  for (auto& x : out) x *= a;
  return out;
}

// The QP's solution by enumerating every set of variables at their bound (the KKT point of a
// strictly convex QP is unique): an independent reference for the active-set solve.
Vector brute_force_qp(const Vector& P, const Vector& q, const Vector& lower) {
  const size_t n = q.size();
  for (unsigned mask = 0; mask < (1u << n); ++mask) {  // bit i set: v_i free
    std::vector<size_t> F;
    for (size_t i = 0; i < n; ++i)
      if (mask & (1u << i)) F.push_back(i);
    Vector v = lower;
    if (!F.empty()) {
      auto A = torch::zeros({static_cast<int64_t>(F.size()), static_cast<int64_t>(F.size())},
                            torch::kFloat64);
      auto b = torch::zeros({static_cast<int64_t>(F.size())}, torch::kFloat64);
      for (size_t a = 0; a < F.size(); ++a) {
        double rhs = -q[F[a]];
        for (size_t k = 0; k < n; ++k)
          if (!(mask & (1u << k))) rhs -= P[F[a] * n + k] * lower[k];
        b[static_cast<int64_t>(a)] = rhs;
        for (size_t c = 0; c < F.size(); ++c)
          A[static_cast<int64_t>(a)][static_cast<int64_t>(c)] = P[F[a] * n + F[c]];
      }
      const auto z = torch::linalg_solve(A, b);
      for (size_t a = 0; a < F.size(); ++a) v[F[a]] = z[static_cast<int64_t>(a)].item<double>();
    }
    bool kkt = true;
    for (size_t i = 0; i < n; ++i) {
      double w = q[i];
      for (size_t k = 0; k < n; ++k) w += P[i * n + k] * v[k];
      kkt = kkt && ((mask & (1u << i)) ? v[i] >= lower[i] - 1e-12 : w >= -1e-12);
    }
    if (kkt) return v;
  }
  ADD_FAILURE() << "no KKT point";
  return {};
}

TEST(GemProjection, EqualsTheKnownSolutionOfOrthonormalConstraints) {
  const std::vector<Vector> G = {{1, 0, 0}, {0, 1, 0}};
  // Both constraints violated: v* = (1, 2) >= margin, the conflicting components are removed.
  EXPECT_EQ(gem_project(G, {-1, -2, 3}, 0.5, 0), (Vector{0, 0, 3}));
  // The first is satisfied: its v sits at the margin and pushes g along g_1 by 0.5.
  EXPECT_EQ(gem_project(G, {1, -2, 3}, 0.5, 0), (Vector{1.5, 0, 3}));
  EXPECT_EQ(gem_project(G, {1, -2, 3}, 0.0, 0), (Vector{1, 0, 3}));
}

TEST(GemProjection, SatisfiesEveryConstraintAndMatchesTheEnumeratedQp) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  for (int trial = 0; trial < 20; ++trial) {
    const size_t t = 2 + static_cast<size_t>(trial % 5), p = 30;
    std::vector<Vector> G(t, Vector(p));
    Vector g(p);
    for (auto& x : g) x = normal(rng);
    for (auto& row : G) {
      for (auto& x : row) x = normal(rng);
      // Make most constraints conflict (several bind at once).
      const double c = dot(row, g) / dot(g, g);
      for (size_t k = 0; k < p; ++k) row[k] -= (c + 0.3 + 0.1 * normal(rng)) * g[k];
    }
    for (double margin : {0.0, 0.5}) {
      const Vector x = gem_project(G, g, margin, 0);
      int binding = 0;
      for (const auto& row : G) {
        const double d = dot(x, row), scale = std::sqrt(dot(x, x) * dot(row, row));
        EXPECT_GE(d, -1e-6 * scale) << "trial " << trial;
        binding += std::abs(d) < 1e-6 * scale ? 1 : 0;
      }
      if (margin == 0 && trial == 0) {
        EXPECT_GE(binding, 2) << "the case has several binding constraints";
      }
      // Against the enumerated dual, with the official eps too.
      for (double eps : {0.0, 1e-3}) {
        Vector P(t * t), q(t);
        for (size_t i = 0; i < t; ++i) {
          q[i] = dot(G[i], g);
          for (size_t j = 0; j < t; ++j) P[i * t + j] = dot(G[i], G[j]) + (i == j ? eps : 0);
        }
        const Vector v = brute_force_qp(P, q, Vector(t, margin));
        const Vector solved = solve_bounded_qp(P, q, Vector(t, margin));
        for (size_t i = 0; i < t; ++i) EXPECT_NEAR(solved[i], v[i], 1e-9 * (1 + std::abs(v[i])));
        // With eps the constraints hold up to the KKT formula <g~, g_k> = mu_k - eps v_k.
        const Vector y = gem_project(G, g, margin, eps);
        for (size_t i = 0; i < t; ++i) {
          double mu = q[i];
          for (size_t k = 0; k < t; ++k) mu += P[i * t + k] * v[k];
          EXPECT_NEAR(dot(y, G[i]), mu - eps * v[i], 1e-8 * (1 + std::abs(mu)));
        }
      }
    }
  }
}

// GEM and A-GEM keep the models' float32 gradients and widen them in every product (AVX2 where
// the processor has it); the float64 path is the plain loop. Both must give the same bits: sizes
// across blocks of 1024 with a tail, and numbers of pairs that are not a multiple of four.
TEST(GemProjection, Float32RowsGiveTheBitsOfTheirFloat64Widening) {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> normal;
  for (const size_t t : {1, 2, 3, 5}) {
    const size_t p = 2 * 1024 + 7;
    std::vector<FloatVector> G(t, FloatVector(p));
    FloatVector g(p);
    for (auto& x : g) x = normal(rng);
    for (auto& row : G) {
      for (size_t k = 0; k < p; ++k) row[k] = normal(rng) - 0.5f * g[k];  // conflicting
    }
    const auto wide = [](const FloatVector& v) { return Vector(v.begin(), v.end()); };
    std::vector<Vector> G64;
    for (const auto& row : G) G64.push_back(wide(row));
    const GemSystem narrow = gem_system(G, g), widened = gem_system(G64, wide(g));
    EXPECT_EQ(narrow.P, widened.P) << "t = " << t;
    EXPECT_EQ(narrow.q, widened.q) << "t = " << t;
    FloatVector projected = g;  // in place, as GEM projects its step's gradient
    gem_project_in_place(narrow, G, projected, 0.5, 1e-3);
    Vector projected64 = wide(g);
    gem_project_in_place(widened, G64, projected64, 0.5, 1e-3);
    EXPECT_EQ(projected64, gem_project(G64, wide(g), 0.5, 1e-3)) << "in place: the same values";
    ASSERT_EQ(projected.size(), p);
    size_t differ = 0;
    for (size_t k = 0; k < p; ++k) differ += projected[k] != static_cast<float>(projected64[k]);
    EXPECT_EQ(differ, 0u) << "t = " << t;
    EXPECT_NE(projected, g) << "the case must project";
    EXPECT_EQ(dot(G[0], g), dot(G64[0], wide(g)));
  }
}

// GEM's per-task mean is divided in the flattening pass: the bits of ATen's t / n, an undefined
// gradient still zeros, and the divisor 1 a plain copy.
TEST(GemProjection, FlatteningDividesAsATenDivides) {
  torch::manual_seed(3);
  const std::vector<torch::Tensor> like = {torch::zeros({7, 5}), torch::zeros({3}),
                                           torch::zeros({11})};
  const std::vector<torch::Tensor> sums = {torch::randn({7, 5}) * 40, torch::Tensor(),
                                           torch::randn({11}) * 1e-3};
  for (const float n : {1.0f, 3.0f, 256.0f, 768.0f}) {
    FloatVector flat;
    flatten_into(sums, like, flat, n);
    const FloatVector expected = flatten({sums[0] / n, torch::Tensor(), sums[2] / n}, like);
    ASSERT_EQ(flat.size(), expected.size());
    size_t differ = 0;
    for (size_t k = 0; k < flat.size(); ++k) differ += flat[k] != expected[k];
    EXPECT_EQ(differ, 0u) << "n = " << n;
    EXPECT_EQ(std::count(flat.begin() + 35, flat.begin() + 38, 0.0f), 3) << "n = " << n;
  }
}

TEST(AgemProjection, IsOrthogonalToTheReferenceWhenViolatedAndUnchangedOtherwise) {
  const Vector r = {1, 2, -1, 0.5};
  const Vector bad = {-2, -1, 0.5, 1};  // <g, r> = -4.0 < 0
  ASSERT_LT(dot(bad, r), 0);
  const auto projected = agem_project(bad, r);
  ASSERT_TRUE(projected);
  const Vector& x = *projected;
  EXPECT_NEAR(dot(x, r), 0.0, 1e-12);
  // The projection is g minus a multiple of r.
  const double c = (bad[0] - x[0]) / r[0];
  for (size_t k = 0; k < r.size(); ++k) EXPECT_NEAR(bad[k] - x[k], c * r[k], 1e-12);
  const Vector good = {1, 0, 0, 0};
  EXPECT_FALSE(agem_project(good, r));
  EXPECT_FALSE(agem_project(times(r, 0.0), r));
  EXPECT_FALSE(agem_project(bad, times(r, 0.0)));
}

// ---- methods ----

// 2 tasks x 2 classes, 40 training samples per class, one epoch of batches of 16.
nlohmann::json tiny_replay(const std::string& method,
                           nlohmann::json more = nlohmann::json::object()) {
  more["epochs"] = more.value("epochs", 1);
  more["batch_size"] = more.value("batch_size", 16);
  return testing::synthetic_run(method, more.value("synthetic.classes", 4), 40, more);
}

// One training step of the method as the trainer runs it (no optimizer step).
void step(Setup& s, const Batch& b) {
  for (auto& p : s.model->parameters()) p.mutable_grad() = torch::Tensor();
  s.method->loss(b).backward();
  s.method->after_backward();
  s.method->after_step();
}

TEST(Der, StoresTheLogitsEachSampleHadWhenItWasInserted) {
  auto s = setup(tiny_replay("der", {{"der.buffer", 20}}));
  const Task& t0 = s->stream->tasks[0];
  s->method->begin_task(t0);
  s->model->train();
  std::map<int64_t, torch::Tensor> at_insertion;
  for (int k = 0; k < 3; ++k) {
    const auto idx = std::vector<int64_t>(t0.train.begin() + 8 * k, t0.train.begin() + 8 * k + 8);
    const Batch b = batch_of(*s->stream, idx, k);
    const auto logits = s->model->forward(b.x).detach();
    for (size_t i = 0; i < idx.size(); ++i) at_insertion[idx[i]] = logits[static_cast<int64_t>(i)];
    step(*s, b);
    torch::NoGradGuard no_grad;
    for (auto& p : s->model->parameters()) p.add_(0.05);  // the network moves on
  }
  auto state = probe(*s->method);
  const auto& samples = state.ints.at("samples");
  ASSERT_EQ(samples.size(), 20u);
  const auto rows = state.tensors.at("rows");
  // The step's forward also carries the replay batches (Method::model_logits), so the same logits
  // up to float32 rounding: relative gaps near 1e-7, where each move of the network changes them
  // by several percent (printed).
  double worst = 0, moved = INFINITY;
  for (size_t slot = 0; slot < samples.size(); ++slot) {
    const auto& want = at_insertion.at(samples[slot]);
    const auto relative = [&](const torch::Tensor& got) {
      return ((got - want).abs().max() / want.abs().max()).item<double>();
    };
    worst = std::max(worst, relative(rows[static_cast<int64_t>(slot)]));
    torch::NoGradGuard no_grad;
    const auto now = s->model->forward(
        batch_of(*s->stream, {samples[slot]}, 0).x);  // after the moves that followed
    moved = std::min(moved, relative(now[0]));
  }
  std::printf("[ margin ] stored vs at insertion: %.3g; the network's moves: >= %.3g\n", worst,
              moved);
  EXPECT_LT(worst, 1e-5);
  EXPECT_GT(moved, 1e-2) << "the check cannot tell";
}

TEST(Mas, ImportanceEqualsTheFormulaOnATinyModel) {
  auto s = setup(tiny_replay("mas", {{"mas.batch", 7}}));
  const Task& t0 = s->stream->tasks[0];
  s->method->begin_task(t0);
  s->method->end_task(t0);
  const auto omega = probe(*s->method).tensors;
  // (1/N) sum over batches of 7 of |d/dtheta sum_x ||logits of the seen classes||^2|, eval mode.
  s->model->eval();
  auto params = s->model->parameters();
  std::vector<torch::Tensor> expected;
  for (auto& p : params) expected.push_back(torch::zeros_like(p));
  for (size_t at = 0; at < t0.train.size(); at += 7) {
    const Batch b =
        batch_of(*s->stream,
                 first_n({t0.train.begin() + static_cast<std::ptrdiff_t>(at), t0.train.end()}, 7));
    const auto out = s->model->forward(b.x).narrow(1, 0, t0.class_end);
    const auto grads = torch::autograd::grad({out.pow(2).sum()}, params, {}, false, false, true);
    for (size_t i = 0; i < params.size(); ++i)
      if (grads[i].defined()) expected[i] += grads[i].abs();
  }
  for (size_t i = 0; i < params.size(); ++i) {
    expected[i] /= static_cast<double>(t0.train.size());
    const auto got = omega.at("omega." + std::to_string(i) + ".tensor");
    EXPECT_TRUE(torch::allclose(got, expected[i], 1e-5, 1e-9)) << "parameter " << i;
  }
  EXPECT_GT(omega.at("omega.0.tensor").sum().item<double>(), 0.0);
}

TEST(Gem, ProjectedGradientSatisfiesEveryPastTaskConstraint) {
  auto s =
      setup(tiny_replay("gem", {{"gem.eps", 0.0}, {"gem.memories", 16}, {"synthetic.classes", 6}}));
  const auto& tasks = s->stream->tasks;
  ASSERT_GE(tasks.size(), 3u);
  s->model->train();
  auto plain = find_method("finetune").make(s->plan.config);
  MethodContext ctx;
  ctx.model = s->model;
  ctx.services = s->session->services.get();
  ctx.stream = s->stream;
  plain->attach(ctx);
  for (int t = 0; t < 2; ++t) {
    s->method->begin_task(tasks[t]);
    step(*s, batch_of(*s->stream, first_n(tasks[t].train, 16)));
    s->method->end_task(tasks[t]);
  }
  const auto memories = probe(*s->method).ints.at("samples");
  EXPECT_EQ(memories.size(), 32u) << "16 per past task";
  s->method->begin_task(tasks[2]);
  plain->begin_task(tasks[2]);
  const Batch b = batch_of(*s->stream, first_n(tasks[2].train, 16));
  const auto params = s->model->parameters();
  const auto unprojected =
      flatten(torch::autograd::grad({plain->loss(b)}, params, {}, true, false, true), params);
  for (auto& p : params) p.mutable_grad() = torch::Tensor();
  s->method->loss(b).backward();
  s->method->after_backward();
  const FloatVector projected = flat_gradients(params);
  int conflicts = 0;
  for (int k = 0; k < 2; ++k) {
    const auto memory =
        std::vector<int64_t>(memories.begin() + 16 * k, memories.begin() + 16 * k + 16);
    const auto gk = flatten(s->session->services->gradients(
                                memory, [&](const Batch& m) { return plain->loss(m); }, params),
                            params);
    conflicts += dot(unprojected, gk) < 0 ? 1 : 0;
    const double scale = std::sqrt(dot(projected, projected) * dot(gk, gk));
    EXPECT_GE(dot(projected, gk), -1e-6 * scale) << "past task " << k;
  }
  EXPECT_GE(conflicts, 1) << "the case must exercise the projection";
  EXPECT_NE(projected, unprojected);
}

TEST(Icarl, PredictsTheNearestMeanOfExemplars) {
  auto s = setup(tiny_replay("icarl", {{"icarl.memory", 10}}));
  const Task& t0 = s->stream->tasks[0];
  s->method->begin_task(t0);
  s->method->end_task(t0);
  auto state = probe(*s->method);
  const auto exemplars = state.ints.at("samples");
  EXPECT_EQ(exemplars.size(), 10u);
  // The class means, recomputed from the exemplars' normalised features.
  s->model->eval();
  torch::NoGradGuard no_grad;
  const Batch ex = batch_of(*s->stream, exemplars);
  auto f = s->model->backbone->forward(ex.x);
  f = f / f.norm(2, 1, true);
  std::vector<torch::Tensor> means;
  for (int64_t c = 0; c < t0.class_end; ++c) means.push_back(f.index({ex.y == c}).mean(0));
  const auto mu = torch::stack(means);
  EXPECT_TRUE(
      torch::allclose(state.tensors.at("means").narrow(0, 0, t0.class_end), mu, 1e-5, 1e-6));
  const Batch test = load_batch(*s->stream, *s->stream->test_set, t0.test,
                                static_cast<int64_t>(t0.test.size()), 1);
  auto g = s->model->backbone->forward(test.x);
  g = g / g.norm(2, 1, true);
  const auto nearest = torch::cdist(g, mu).argmin(1);
  const auto predicted = s->method->logits(test).narrow(1, 0, t0.class_end).argmax(1);
  EXPECT_TRUE(torch::equal(predicted, nearest));
  // The linear head is the second prediction, and differs from NME.
  ASSERT_EQ(s->method->other_predictions(), std::vector<std::string>{"linear"});
  EXPECT_TRUE(torch::equal(s->method->other_logits("linear", test), s->model->forward(test.x)));
  // It keeps the network and one mean per class.
  EXPECT_EQ(s->method->stored_parameters(),
            count_parameters(s->model->parameters()) +
                s->stream->num_classes() * s->model->backbone->feature_dim());
  // The next task trains on its data and the exemplars.
  EXPECT_EQ(s->method->train_indices(s->stream->tasks[1]).size(),
            s->stream->tasks[1].train.size() + exemplars.size());
}

// Every memory stays within its budget, and the result file counts it.
TEST(ReplayMemories, StayWithinTheirBudgetsAndAreCountedInTheResult) {
  const std::vector<std::pair<nlohmann::json, int64_t>> cases = {
      {tiny_replay("er", {{"er.buffer", 7}}), 7},
      {tiny_replay("der", {{"der.buffer", 9}}), 9},
      {tiny_replay("der++", {{"der++.buffer", 9}}), 9},
      {tiny_replay("gem", {{"gem.memories", 5}}), 5 * 2},
      {tiny_replay("agem", {{"agem.per_class", 3}}), 3 * 4},
      {tiny_replay("icarl", {{"icarl.memory", 6}}), 6}};
  for (const auto& [user, budget] : cases) {
    const auto r = run_quiet(user);
    const std::string m = user["method"];
    ASSERT_EQ(r.memory_samples.size(), r.acc_class_il.size()) << m;
    EXPECT_EQ(r.memory_samples.back(), budget) << m << " fills its memory";
    for (int64_t n : r.memory_samples) EXPECT_LE(n, budget) << m;
    EXPECT_GT(r.memory_bytes.back(), r.memory_samples.back() * 8) << m << ": pixels and labels";
  }
}

}  // namespace
}  // namespace clbench
