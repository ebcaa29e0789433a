// Optimisers and learning-rate schedules: the formulas, and what the trainer's optimizer really
// applies at each step (recovered from the parameter change of plain SGD), per parameter group.
#include <cmath>
#include <sstream>

#include <ATen/record_function.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "harness/engine/one_pass_optimizers.h"
#include "harness/engine/optim.h"
#include "harness/engine/progress.h"
#include "harness/foundation/error.h"
#include "results/metrics.h"
#include "support.h"

namespace clbench {
namespace {

TEST(LrSchedule, EachKindFollowsItsFormula) {
  const double pi = std::acos(-1.0);
  LrSchedule s;
  EXPECT_DOUBLE_EQ(s.lr(0.1, 7, 10), 0.1);
  s.kind = "cosine";
  EXPECT_DOUBLE_EQ(s.lr(0.1, 0, 10), 0.1);
  EXPECT_NEAR(s.lr(0.1, 5, 10), 0.05, 1e-15);
  EXPECT_NEAR(s.lr(0.1, 9, 10), 0.1 * 0.5 * (1 + std::cos(pi * 0.9)), 1e-15);
  s.warmup = 2;  // (t + 1) / w, then the cosine over the remaining 8 units
  EXPECT_DOUBLE_EQ(s.lr(0.1, 0, 10), 0.05);
  EXPECT_DOUBLE_EQ(s.lr(0.1, 1, 10), 0.1);
  EXPECT_DOUBLE_EQ(s.lr(0.1, 2, 10), 0.1);
  EXPECT_NEAR(s.lr(0.1, 6, 10), 0.05, 1e-15);
  s = LrSchedule();
  s.kind = "multistep";
  s.milestones = {3, 6};
  s.gamma = 0.5;
  EXPECT_DOUBLE_EQ(s.lr(0.8, 2, 10), 0.8);
  EXPECT_DOUBLE_EQ(s.lr(0.8, 3, 10), 0.4);
  EXPECT_DOUBLE_EQ(s.lr(0.8, 9, 10), 0.2);
  s = LrSchedule();
  s.kind = "coda-cosine";  // InfLoRA / CODA-Prompt: ends at cos(99 pi / 200) of the base
  EXPECT_DOUBLE_EQ(s.lr(5e-4, 0, 20), 5e-4);
  EXPECT_NEAR(s.lr(5e-4, 19, 20), 5e-4 * std::cos(99 * pi / 200), 1e-18);
  EXPECT_DOUBLE_EQ(s.lr(5e-4, 0, 1), 5e-4);  // one epoch: the base rate
  s.kind = "nonsense";
  EXPECT_THROW(s.lr(0.1, 0, 1), Error);
  EXPECT_EQ(LrSchedule().in_steps(7).warmup, 0);
  LrSchedule w;
  w.warmup = 2;
  w.milestones = {3};
  EXPECT_EQ(w.in_steps(7).warmup, 14);
  EXPECT_EQ(w.in_steps(7).milestones, std::vector<int64_t>{21});
}

// One step from theta = 1 with gradient 0.5: Adam adds the weight decay to the gradient, AdamW
// decays the weight itself (Loshchilov & Hutter 2019).
TEST(Optimizers, AdamAndAdamwApplyWeightDecayAsTheirPapersSay) {
  for (const std::string kind : {"adam", "adamw", "sgd"}) {
    auto theta = torch::ones({1}, torch::kDouble).requires_grad_(true);
    auto opt =
        make_optimizer({ParamGroup{{theta}, std::nullopt, std::nullopt}}, {kind, 0.1, 0, 0.1});
    theta.mutable_grad() = torch::full({1}, 0.5, torch::kDouble);
    opt->step();
    const double got = theta.item<double>(), eps = 1e-8;
    const double expected = kind == "adam"    ? 1 - 0.1 * 0.6 / (0.6 + eps)
                            : kind == "adamw" ? 1 - 0.1 * 0.1 - 0.1 * 0.5 / (0.5 + eps)
                                              : 1 - 0.1 * 0.6;
    EXPECT_NEAR(got, expected, 1e-12) << kind;
  }
  EXPECT_THROW(make_optimizer({}, {"lion", 0.1, 0, 0}), Error);
}

// A method that records the learning rate each step really applied: with plain SGD (no momentum,
// no weight decay) a parameter moves by -lr * grad.
class LrProbe : public Method {
 public:
  explicit LrProbe(std::vector<double> group_scales) : scales_(std::move(group_scales)) {}
  std::vector<ParamGroup> parameter_groups() override {
    auto params = trainable_parameters();
    std::vector<ParamGroup> groups;
    for (size_t g = 0; g < scales_.size(); ++g) {
      groups.push_back({{params[g]}, base_lr_ * scales_[g], std::nullopt});
    }
    return groups;
  }
  void after_backward() override {
    before_.clear();
    grads_.clear();
    for (size_t g = 0; g < scales_.size(); ++g) {
      const auto p = trainable_parameters()[g];
      before_.push_back(p.detach().to(torch::kDouble).clone());
      grads_.push_back(p.grad().detach().to(torch::kDouble).clone());
    }
  }
  void after_step() override {
    std::vector<double> lrs;
    for (size_t g = 0; g < scales_.size(); ++g) {
      const auto after = trainable_parameters()[g].detach().to(torch::kDouble);
      const auto at = grads_[g].abs().argmax();  // the best-conditioned element
      lrs.push_back(((before_[g].flatten()[at] - after.flatten()[at]) / grads_[g].flatten()[at])
                        .item<double>());
    }
    applied.push_back(lrs);
  }
  std::vector<std::vector<double>> applied;  // per step, per group
  double base_lr_ = 0.1;

 private:
  std::vector<double> scales_;
  std::vector<torch::Tensor> before_, grads_;
};

// Trains a probe (SGD, lr 0.1, no momentum) on 2 tasks of synthetic with the given schedule keys.
std::vector<std::vector<double>> applied_lrs(const nlohmann::json& schedule,
                                             std::vector<double> scales, int64_t* steps_per_epoch) {
  nlohmann::json user = {{"benchmark", "synthetic"}, {"method", "finetune"}, {"lr", 0.1},
                         {"momentum", 0.0},          {"epochs", 4},          {"batch_size", 64},
                         {"synthetic.classes", 4},   {"threads", 1}};
  user.update(schedule);
  auto s = testing::setup(user);
  LrProbe probe(std::move(scales));
  MethodContext ctx;
  ctx.model = s->model;
  ctx.services = s->session->services.get();
  ctx.stream = s->stream;
  ctx.run = s->session->trainer.run;
  probe.attach(ctx);
  TaskStream first = *s->stream;
  first.tasks.resize(1);
  Progress quiet(false, false);
  train_stream(first, probe, s->model, *s->session->services, s->comm, s->session->trainer, quiet);
  *steps_per_epoch = (static_cast<int64_t>(first.tasks[0].train.size()) + 63) / 64;
  return probe.applied;
}

// Two parameter groups (their own lr and weight decay) fitting a least-squares target, `steps`
// steps of `optimizer`; returns the parameters after every step.
std::vector<torch::Tensor> fit(torch::optim::Optimizer& optimizer,
                               const std::vector<torch::Tensor>& params, int steps) {
  torch::manual_seed(3);
  const auto x = torch::randn({32, 6}), y = torch::randn({32, 5});
  std::vector<torch::Tensor> trace;
  for (int k = 0; k < steps; ++k) {
    optimizer.zero_grad();
    const auto out = torch::mm(x, params[0]) + params[1];
    (out - y).pow(2).mean().backward();
    optimizer.step();
    trace.push_back(torch::cat({params[0].detach().flatten(), params[1].detach().flatten()}));
  }
  return trace;
}

struct Fitted {
  std::vector<torch::Tensor> params;
  std::vector<ParamGroup> groups;
};
Fitted fresh_params() {
  torch::manual_seed(1);
  Fitted f;
  f.params = {torch::randn({6, 5}).requires_grad_(), torch::randn({5}).requires_grad_()};
  f.groups = {ParamGroup{{f.params[0]}, std::nullopt, std::nullopt},
              ParamGroup{{f.params[1]}, 0.003, 0.5}};
  return f;
}

const std::vector<OptimizerSpec>& fused_specs() {
  static const std::vector<OptimizerSpec> specs = {{"sgd", 0.05, 0.0, 0.0},
                                                   {"sgd", 0.05, 0.9, 0.01},
                                                   {"adam", 0.01, 0.0, 0.01},
                                                   {"adamw", 0.01, 0.0, 0.1}};
  return specs;
}

// ATen's fused kernels apply LibTorch's updates: the same trajectory up to float rounding.
TEST(FusedOptimizers, FollowThePlainOnesWithinFloatTolerance) {
  for (const auto& spec : fused_specs()) {
    auto a = fresh_params(), b = fresh_params();
    auto plain = make_optimizer(a.groups, spec, false);
    auto fused = make_optimizer(b.groups, spec, true);
    const auto p = fit(*plain, a.params, 40), f = fit(*fused, b.params, 40);
    for (size_t k = 0; k < p.size(); ++k) {
      ASSERT_TRUE(torch::allclose(p[k], f[k], 1e-5, 1e-6))
          << spec.kind << " momentum " << spec.momentum << " step " << k << ": "
          << (p[k] - f[k]).abs().max().item<double>();
    }
    EXPECT_GT((p.back() - p.front()).abs().max().item<double>(), 1e-2) << spec.kind;  // it moved
  }
}

// Every optimizer make_optimizer gives, plain and fused, evaluates a step's closure with gradients
// on (even under a NoGradGuard), returns its loss and steps on the gradients it left.
TEST(Optimizers, EvaluateTheStepsClosureWithGradientsOn) {
  for (const auto& spec : fused_specs()) {
    for (bool fused : {false, true}) {
      auto f = fresh_params();
      const auto before = f.params[0].detach().clone();
      auto optimizer = make_optimizer(f.groups, spec, fused);
      torch::NoGradGuard no_grad;
      const auto loss = optimizer->step([&] {
        optimizer->zero_grad();
        auto value = f.params[0].square().sum() + f.params[1].square().sum();
        value.backward();
        return value;
      });
      ASSERT_TRUE(loss.defined()) << spec.kind << (fused ? " fused" : " plain");
      EXPECT_TRUE(loss.requires_grad()) << spec.kind << (fused ? " fused" : " plain");
      EXPECT_FALSE(torch::equal(before, f.params[0])) << spec.kind << (fused ? " fused" : " plain");
    }
  }
}

// A fused optimizer's state saves as the plain one's: a checkpoint continues in either.
TEST(FusedOptimizers, StateMovesBetweenFusedAndPlainThroughACheckpoint) {
  for (const auto& spec : fused_specs()) {
    for (bool fused_first : {true, false}) {
      auto a = fresh_params(), b = fresh_params();
      auto straight = make_optimizer(a.groups, spec, fused_first);
      const auto reference = fit(*straight, a.params, 20).back();
      auto first = make_optimizer(b.groups, spec, fused_first);
      fit(*first, b.params, 10);
      std::ostringstream bytes;
      {
        torch::serialize::OutputArchive out;
        first->save(out);
        out.save_to(bytes);
      }
      auto second = make_optimizer(b.groups, spec, !fused_first);
      torch::serialize::InputArchive in;
      std::istringstream read(bytes.str());
      in.load_from(read);
      second->load(in);
      const auto continued = fit(*second, b.params, 10).back();
      EXPECT_TRUE(torch::allclose(continued, reference, 1e-5, 1e-6))
          << spec.kind << (fused_first ? " fused then plain" : " plain then fused") << ": "
          << (continued - reference).abs().max().item<double>();
    }
  }
}

// channels_last weights (clbench's ResNets on a GPU) with a gradient or state in another layout.
TEST(FusedOptimizers, ChannelsLastWeightsWithContiguousGradientsStepAsPlainOnes) {
  for (const auto& spec : fused_specs()) {
    std::vector<torch::Tensor> results;
    for (bool fused : {false, true}) {
      torch::manual_seed(5);
      auto w = torch::randn({4, 3, 2, 2}).contiguous(at::MemoryFormat::ChannelsLast);
      w.requires_grad_();
      auto optimizer = make_optimizer({ParamGroup{{w}, std::nullopt, std::nullopt}}, spec, fused);
      for (int k = 0; k < 5; ++k) {
        w.mutable_grad() = torch::sin(w.detach() * (k + 1)).contiguous();  // not channels_last
        optimizer->step();
      }
      results.push_back(w.detach().contiguous());
    }
    EXPECT_TRUE(torch::allclose(results[0], results[1], 1e-5, 1e-6)) << spec.kind;
  }
}

// The ATen element-wise kernels (aten::add_, aten::mul_, ...) an optimizer step calls.
int elementwise_kernels_in(torch::optim::Optimizer& optimizer) {
  static thread_local int calls = 0;
  calls = 0;
  const auto handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback([](const at::RecordFunction& fn)
                                     -> std::unique_ptr<at::ObserverContext> {
        const std::string name = fn.name();
        if (name.rfind("aten::add", 0) == 0 || name.rfind("aten::mul", 0) == 0) ++calls;
        return nullptr;
      }).scopes({at::RecordScope::FUNCTION}));
  optimizer.step();
  at::removeCallback(handle);
  return calls;
}

// The steps of a test on two threads, so that a tensor larger than one chunk is cut among them.
struct TwoThreads {
  int before = at::get_num_threads();
  TwoThreads() { at::set_num_threads(2); }
  ~TwoThreads() { at::set_num_threads(before); }
};

// Tensor shapes with and without an 8-float tail; {70001} is more than ATen's grain of 32768 and
// more than four of the Adam update's blocks of 16384.
const std::vector<std::vector<int64_t>>& step_shapes() {
  static const std::vector<std::vector<int64_t>> shapes = {{1},  {7},       {10},   {16},   {17},
                                                           {33}, {40, 100}, {4003}, {70001}};
  return shapes;
}

// `a` {6, 5} under `reference` and its copy `b` under the one-pass `one_pass`, stepped three times
// with the same transposed (non-contiguous) gradient: the one-pass optimizer takes LibTorch's own
// step (it runs ATen's kernels), with the same bits.
void expect_transposed_gradients_take_the_plain_step(torch::optim::Optimizer& reference,
                                                     torch::optim::Optimizer& one_pass,
                                                     torch::Tensor& a, torch::Tensor& b) {
  for (int k = 0; k < 3; ++k) {
    const auto g = torch::randn({5, 6}).t();
    a.mutable_grad() = g.clone();
    b.mutable_grad() = g.clone();
    ASSERT_FALSE(b.grad().is_contiguous());
    reference.step();
    EXPECT_GT(elementwise_kernels_in(one_pass), 0);
    ASSERT_TRUE(torch::equal(a, b)) << "transposed gradient, step " << k;
  }
}

// One pass per tensor, and SGD::step's numbers to the bit: every option LibTorch's SGD takes,
// tensors with and without an 8-float tail, a first step (the buffer starts from d) and later
// ones, a learning rate changed between steps, two threads; a transposed gradient goes through
// SGD::step.
TEST(OnePassSgd, StepsAsLibTorchsSgdToTheBitInOnePass) {
  const auto& shapes = step_shapes();
  {
    const TwoThreads two_threads;  // the steps below on two threads
    for (double momentum : {0.0, 0.9}) {
      for (double dampening : {0.0, 0.1}) {
        for (double decay : {0.0, 5e-4}) {
          for (bool nesterov : {false, true}) {
            if (nesterov && (momentum == 0 || dampening != 0)) continue;  // SGD refuses these
            const auto options = torch::optim::SGDOptions(0.05)
                                     .momentum(momentum)
                                     .dampening(dampening)
                                     .weight_decay(decay)
                                     .nesterov(nesterov);
            torch::manual_seed(11);
            std::vector<torch::Tensor> a, b;
            for (const auto& shape : shapes) {
              a.push_back(torch::randn(shape).requires_grad_());
              b.push_back(a.back().detach().clone().requires_grad_());
            }
            torch::optim::SGD reference(a, options);
            auto one_pass = make_one_pass_sgd({torch::optim::OptimizerParamGroup(b)}, options);
            const std::string label = "momentum " + std::to_string(momentum) + " dampening " +
                                      std::to_string(dampening) + " decay " +
                                      std::to_string(decay) + (nesterov ? " nesterov" : "");
            for (int k = 0; k < 5; ++k) {
              if (k == 3) {
                reference.param_groups()[0].options().set_lr(0.013);
                one_pass->param_groups()[0].options().set_lr(0.013);
              }
              for (size_t i = 0; i < a.size(); ++i) {
                const auto g = torch::randn(a[i].sizes()) * 3;
                a[i].mutable_grad() = g.clone();
                b[i].mutable_grad() = g.clone();
              }
              EXPECT_GT(elementwise_kernels_in(reference), 0) << label;
              EXPECT_EQ(elementwise_kernels_in(*one_pass), 0) << label << " step " << k;
              for (size_t i = 0; i < a.size(); ++i) {
                ASSERT_TRUE(torch::equal(a[i], b[i]))
                    << label << " step " << k << " tensor " << i << ": "
                    << (a[i] - b[i]).abs().max().item<double>();
              }
            }
          }
        }
      }
    }
  }
  torch::manual_seed(12);
  auto a = torch::randn({6, 5}).requires_grad_(), b = a.detach().clone().requires_grad_();
  const auto options = torch::optim::SGDOptions(0.05).momentum(0.9);
  torch::optim::SGD reference({a}, options);
  auto one_pass = make_one_pass_sgd({torch::optim::OptimizerParamGroup({b})}, options);
  expect_transposed_gradients_take_the_plain_step(reference, *one_pass, a, b);
}

// Adam::step's and AdamW::step's numbers (parameters and both moments) to the bit, without
// their element-wise kernels: with and without weight decay, betas and eps of others' choosing, a
// learning rate changed between steps, two threads, gradients growing and shrinking by 1e4 so that
// both moments and the square root see a wide range. amsgrad, and a transposed gradient, go
// through LibTorch's own step.
TEST(OnePassAdam, StepsAsLibTorchsAdamAndAdamWToTheBit) {
  using torch::optim::OptimizerParamGroup;
  const TwoThreads two_threads;
  struct Case {
    std::string kind;
    double decay, beta1, beta2, eps;
    bool amsgrad;
  };
  const std::vector<Case> cases = {
      {"adam", 0, 0.9, 0.999, 1e-8, false},     {"adam", 1e-2, 0.9, 0.999, 1e-8, false},
      {"adam", 1e-4, 0.8, 0.99, 1e-6, false},   {"adamw", 0, 0.9, 0.999, 1e-8, false},
      {"adamw", 1e-2, 0.9, 0.999, 1e-8, false}, {"adamw", 0.05, 0.85, 0.95, 1e-3, false},
      {"adam", 1e-2, 0.9, 0.999, 1e-8, true},   {"adamw", 1e-2, 0.9, 0.999, 1e-8, true}};
  for (const auto& c : cases) {
    const std::string label = c.kind + " decay " + std::to_string(c.decay) + " betas " +
                              std::to_string(c.beta1) + " " + std::to_string(c.beta2) +
                              (c.amsgrad ? " amsgrad" : "");
    torch::manual_seed(13);
    std::vector<torch::Tensor> a, b;
    for (const auto& shape : step_shapes()) {
      a.push_back(torch::randn(shape).requires_grad_());
      b.push_back(a.back().detach().clone().requires_grad_());
    }
    const auto configured = [&c](auto o) {
      o.weight_decay(c.decay).betas({c.beta1, c.beta2}).eps(c.eps).amsgrad(c.amsgrad);
      return o;
    };
    std::unique_ptr<torch::optim::Optimizer> reference, one_pass;
    if (c.kind == "adam") {
      const auto o = configured(torch::optim::AdamOptions(2e-3));
      reference = std::make_unique<torch::optim::Adam>(a, o);
      one_pass = make_one_pass_adam({OptimizerParamGroup(b)}, o);
    } else {
      const auto o = configured(torch::optim::AdamWOptions(2e-3));
      reference = std::make_unique<torch::optim::AdamW>(a, o);
      one_pass = make_one_pass_adamw({OptimizerParamGroup(b)}, o);
    }
    for (int k = 0; k < 6; ++k) {
      if (k == 3) {
        reference->param_groups()[0].options().set_lr(7e-4);
        one_pass->param_groups()[0].options().set_lr(7e-4);
      }
      for (size_t i = 0; i < a.size(); ++i) {
        const auto g = torch::randn(a[i].sizes()) * std::pow(10.0, 2 * (k % 3) - 2);
        a[i].mutable_grad() = g.clone();
        b[i].mutable_grad() = g.clone();
      }
      EXPECT_GT(elementwise_kernels_in(*reference), 0) << label;
      const int kernels = elementwise_kernels_in(*one_pass);
      if (c.amsgrad) {
        EXPECT_GT(kernels, 0) << label;
      } else {
        EXPECT_EQ(kernels, 0) << label << " step " << k;
      }
      for (size_t i = 0; i < a.size(); ++i) {
        ASSERT_TRUE(torch::equal(a[i], b[i])) << label << " step " << k << " tensor " << i << ": "
                                              << (a[i] - b[i]).abs().max().item<double>();
        const auto& s = reference->state().at(a[i].unsafeGetTensorImpl());
        const auto& t = one_pass->state().at(b[i].unsafeGetTensorImpl());
        const auto moments = [&](const torch::optim::OptimizerParamState& state) {
          if (c.kind == "adam") {
            const auto& adam = static_cast<const torch::optim::AdamParamState&>(state);
            return std::make_tuple(adam.step(), adam.exp_avg(), adam.exp_avg_sq());
          }
          const auto& adamw = static_cast<const torch::optim::AdamWParamState&>(state);
          return std::make_tuple(adamw.step(), adamw.exp_avg(), adamw.exp_avg_sq());
        };
        const auto [step_a, m_a, v_a] = moments(*s);
        const auto [step_b, m_b, v_b] = moments(*t);
        EXPECT_EQ(step_a, step_b) << label;
        ASSERT_TRUE(torch::equal(m_a, m_b) && torch::equal(v_a, v_b))
            << label << " step " << k << " tensor " << i;
      }
    }
  }
  torch::manual_seed(14);
  auto a = torch::randn({6, 5}).requires_grad_(), b = a.detach().clone().requires_grad_();
  torch::optim::Adam reference({a}, torch::optim::AdamOptions(1e-3));
  auto one_pass = make_one_pass_adam({OptimizerParamGroup({b})}, torch::optim::AdamOptions(1e-3));
  expect_transposed_gradients_take_the_plain_step(reference, *one_pass, a, b);
}

TEST(FusedOptimizers, ARunOnFusedKernelsTrainsLikeOneOnPlainOnes) {
  const auto run = [](const std::string& kernels, const std::string& optimizer) {
    return testing::run_quiet(
        testing::synthetic_run("er", 6, 40,
                               {{"optimizer_kernels", kernels},
                                {"optimizer", optimizer},
                                {"lr", optimizer == "sgd" ? 0.05 : 0.003},
                                {"momentum", optimizer == "sgd" ? 0.9 : 0.0},
                                {"out", ::testing::TempDir() + "fused-" + kernels + optimizer}}));
  };
  for (const std::string optimizer : {"sgd", "adamw"}) {
    const auto plain = run("plain", optimizer), fused = run("fused", optimizer);
    EXPECT_NEAR(final_accuracy(fused.acc_class_il), final_accuracy(plain.acc_class_il), 2.0)
        << optimizer;
    EXPECT_GT(final_accuracy(fused.acc_task_il), 70.0) << optimizer;
  }
}

TEST(TrainerLr, ACosineScheduleWithWarmupPerStepIsWhatTheOptimizerApplies) {
  int64_t S = 0;
  const auto lrs = applied_lrs(
      {{"lr_schedule", "cosine"}, {"lr_schedule_per", "step"}, {"warmup_epochs", 1}}, {1.0}, &S);
  ASSERT_EQ(static_cast<int64_t>(lrs.size()), 4 * S);
  const double pi = std::acos(-1.0);
  for (int64_t k = 0; k < 4 * S; ++k) {
    const double expected =
        k < S ? 0.1 * (k + 1) / S : 0.1 * 0.5 * (1 + std::cos(pi * (k - S) / double(3 * S)));
    EXPECT_NEAR(lrs[k][0], expected, 1e-4 * expected + 5e-7) << "step " << k;  // float32 steps
  }
}

TEST(TrainerLr, AMultistepSchedulePerEpochAndParameterGroupsWithTheirOwnRates) {
  int64_t S = 0;
  const auto lrs = applied_lrs(
      {{"lr_schedule", "multistep"}, {"lr_milestones", "2,3"}, {"lr_gamma", 0.5}}, {1.0, 0.25}, &S);
  ASSERT_EQ(static_cast<int64_t>(lrs.size()), 4 * S);
  for (int64_t k = 0; k < 4 * S; ++k) {
    const int64_t epoch = k / S;
    const double factor = epoch < 2 ? 1.0 : epoch < 3 ? 0.5 : 0.25;
    EXPECT_NEAR(lrs[k][0], 0.1 * factor, 1e-4 * 0.1 * factor) << "step " << k;
    EXPECT_NEAR(lrs[k][1], 0.025 * factor, 1e-4 * 0.025 * factor) << "step " << k;
  }
}

TEST(TrainerLr, AnAdamwRunTrainsAndRecordsItsSchedule) {
  const auto r = testing::run_quiet({{"benchmark", "synthetic"},
                                     {"method", "finetune"},
                                     {"optimizer", "adamw"},
                                     {"lr", 1e-3},
                                     {"weight_decay", 0.05},
                                     {"lr_schedule", "cosine"},
                                     {"out", ::testing::TempDir() + "adamw"}});
  EXPECT_GT(final_accuracy(r.acc_task_il), 80.0);
  EXPECT_EQ(r.lr_schedule, "cosine per epoch");
}

}  // namespace
}  // namespace clbench
