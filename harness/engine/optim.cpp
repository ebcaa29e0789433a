#include "harness/engine/optim.h"

#include "harness/engine/fused_optimizers.h"
#include "harness/engine/one_pass_optimizers.h"

#include <cmath>
#include <type_traits>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/text.h"

namespace clbench {

const std::vector<std::string>& optimizer_kinds() {
  static const std::vector<std::string> kinds = {"sgd", "adam", "adamw"};
  return kinds;
}

namespace {

template <class Options>
std::vector<torch::optim::OptimizerParamGroup> make_groups(const std::vector<ParamGroup>& groups,
                                                           const Options& defaults) {
  std::vector<torch::optim::OptimizerParamGroup> out;
  for (const auto& g : groups) {
    auto options = std::make_unique<Options>(defaults);
    options->lr(g.lr.value_or(defaults.lr()) * g.lr_scale);
    if (g.weight_decay) options->weight_decay(*g.weight_decay);
    out.emplace_back(g.params, std::move(options));
  }
  return out;
}

template <class Plain, class Options>
std::unique_ptr<torch::optim::Optimizer> make(const std::vector<ParamGroup>& groups,
                                              const Options& o, const std::string& kind,
                                              bool fused) {
  if (fused) return make_fused_optimizer(kind, make_groups(groups, o), o);
  // LibTorch's bits, one pass per tensor (Adam, AdamW: two).
  if constexpr (std::is_same_v<Plain, torch::optim::SGD>) {
    return make_one_pass_sgd(make_groups(groups, o), o);
  } else if constexpr (std::is_same_v<Plain, torch::optim::Adam>) {
    return make_one_pass_adam(make_groups(groups, o), o);
  } else {
    return make_one_pass_adamw(make_groups(groups, o), o);
  }
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<ParamGroup>& groups,
                                                        const OptimizerSpec& s, bool fused) {
  using namespace torch::optim;
  if (s.kind == "sgd") {
    return make<SGD>(groups, SGDOptions(s.lr).momentum(s.momentum).weight_decay(s.weight_decay),
                     s.kind, fused);
  }
  if (s.kind == "adam")
    return make<Adam>(groups, AdamOptions(s.lr).weight_decay(s.weight_decay), s.kind, fused);
  if (s.kind == "adamw")
    return make<AdamW>(groups, AdamWOptions(s.lr).weight_decay(s.weight_decay), s.kind, fused);
  throw Error(unknown_name("optimizer", s.kind, optimizer_kinds()));
}

torch::Tensor closure_loss(const std::function<torch::Tensor()>& closure) {
  if (!closure) return {};
  at::AutoGradMode grad(true);
  return closure();
}

std::vector<double> base_learning_rates(const std::vector<ParamGroup>& groups,
                                        const OptimizerSpec& spec) {
  std::vector<double> lrs;
  for (const auto& g : groups) lrs.push_back(g.lr.value_or(spec.lr) * g.lr_scale);
  return lrs;
}

void set_learning_rates(torch::optim::Optimizer& optimizer, const std::vector<double>& lrs) {
  auto& groups = optimizer.param_groups();
  for (size_t i = 0; i < groups.size() && i < lrs.size(); ++i) groups[i].options().set_lr(lrs[i]);
}

const std::vector<std::string>& lr_schedule_kinds() {
  static const std::vector<std::string> kinds = {"constant", "cosine", "multistep", "coda-cosine"};
  return kinds;
}

double LrSchedule::lr(double base, int64_t t, int64_t total) const {
  if (t < warmup) return base * static_cast<double>(t + 1) / static_cast<double>(warmup);
  const double pi = std::acos(-1.0);
  if (kind == "constant") return base;
  if (kind == "cosine") {
    const double progress =
        static_cast<double>(t - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
    return base * 0.5 * (1.0 + std::cos(pi * progress));
  }
  if (kind == "multistep") {
    double lr = base;
    for (int64_t m : milestones) {
      if (m <= t) lr *= gamma;
    }
    return lr;
  }
  if (kind == "coda-cosine") {
    const int64_t k = total - warmup;
    if (k <= 1) return base;
    return base * std::cos(99.0 * pi * static_cast<double>(t - warmup) /
                           (200.0 * static_cast<double>(k - 1)));
  }
  throw Error(unknown_name("lr_schedule", kind, lr_schedule_kinds()));
}

LrSchedule LrSchedule::in_steps(int64_t steps_per_epoch) const {
  LrSchedule s = *this;
  s.warmup = warmup * steps_per_epoch;
  for (auto& m : s.milestones) m *= steps_per_epoch;
  return s;
}

std::string LrSchedule::describe() const {
  std::string s = kind + (per_step ? " per step" : " per epoch");
  if (warmup > 0) s += ", warm-up " + std::to_string(warmup);
  if (kind == "multistep") {
    std::vector<std::string> ms;
    for (int64_t m : milestones) ms.push_back(std::to_string(m));
    s += ", milestones " + join(ms, ",") + ", gamma " + c10::str(gamma);
  }
  return s;
}

}  // namespace clbench
