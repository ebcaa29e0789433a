#pragma once
// Optimisers and learning-rate schedules: one factory with one meaning per name (sgd, adam,
// adamw) for every part of clbench, and the schedules of the reference codes as pure functions.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "methods/optimization.h"

namespace at {
class Tensor;
}
namespace torch::optim {
class Optimizer;
}

namespace clbench {

const std::vector<std::string>& optimizer_kinds();  // sgd, adam, adamw

// SGD (momentum, L2 weight decay), Adam (torch.optim.Adam: L2 weight decay added to the gradient)
// or AdamW (Loshchilov & Hutter 2019: decoupled weight decay); betas (0.9, 0.999), eps 1e-8.
// Each group gets its own lr and weight decay where it sets them. `fused`: the same optimizer on
// ATen's fused kernels (harness/engine/fused_optimizers.h); otherwise LibTorch's, their CPU update
// in one pass (Adam, AdamW: two) with their bits (harness/engine/one_pass_optimizers.h). Unknown
// kind: clbench::Error.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<ParamGroup>& groups,
                                                        const OptimizerSpec& spec,
                                                        bool fused = false);

// The loss of an optimizer step's closure, evaluated with gradients on as LibTorch's optimizers do
// (undefined without a closure): the first thing the step() of each optimizer above does.
at::Tensor closure_loss(const std::function<at::Tensor()>& closure);

// The base learning rate of every group of make_optimizer(groups, spec), in order.
std::vector<double> base_learning_rates(const std::vector<ParamGroup>& groups,
                                        const OptimizerSpec& spec);

// Sets group i's learning rate to lrs[i].
void set_learning_rates(torch::optim::Optimizer& optimizer, const std::vector<double>& lrs);

// A learning-rate schedule over T units (epochs, or steps), evaluated at unit t = 0..T-1:
// - constant:    lr
// - cosine:      lr (1 + cos(pi (t - w) / (T - w))) / 2  (CosineAnnealingLR, eta_min 0)
// - multistep:   lr gamma^(milestones <= t)             (MultiStepLR)
// - coda-cosine: lr cos(99 pi (t - w) / (200 (T - w - 1)))  (CODA-Prompt's and InfLoRA's
//                CosineSchedule: ends at 1.6% of lr; lr itself when T - w = 1)
// after a linear warm-up of w units, lr (t + 1) / w for t < w.
struct LrSchedule {
  std::string kind = "constant";
  bool per_step = false;            // false: the value of unit = epoch holds for the whole epoch
  int64_t warmup = 0;               // w, in the schedule's units
  std::vector<int64_t> milestones;  // multistep, in the schedule's units
  double gamma = 0.1;               // multistep

  double lr(double base, int64_t t, int64_t total) const;
  // The same schedule with warm-up and milestones given in epochs turned into steps.
  LrSchedule in_steps(int64_t steps_per_epoch) const;
  std::string describe() const;  // e.g. "cosine per epoch, warm-up 1"
};

const std::vector<std::string>& lr_schedule_kinds();

}  // namespace clbench
