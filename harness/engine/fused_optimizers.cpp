#include "harness/engine/fused_optimizers.h"

#include <map>
#include <unordered_map>

#include <torch/torch.h>

#include "harness/engine/optim.h"
#include "harness/foundation/error.h"

namespace clbench {
namespace {

using torch::Tensor;
using namespace torch::optim;

// One optimizer step: the closure's loss, then fn(options, tensors) for every parameter group's
// tensors that have gradients, by device and dtype (a fused kernel takes one of each).
template <class Options, class Fn>
Tensor fused_step(const Optimizer::LossClosure& closure, std::vector<OptimizerParamGroup>& groups,
                  Fn fn) {
  const Tensor loss = closure_loss(closure);
  torch::NoGradGuard no_grad;
  for (auto& group : groups) {
    std::map<std::pair<std::string, int>, std::vector<Tensor>> by;
    for (const auto& p : group.params()) {
      if (p.grad().defined())
        by[{p.device().str(), static_cast<int>(p.scalar_type())}].push_back(p);
    }
    const auto& options = static_cast<const Options&>(group.options());
    for (auto& [key, params] : by) fn(options, params);
  }
  return loss;
}

// A fused kernel walks a parameter, its gradient and its state as one dense array each: they
// must share the parameter's layout (a channels_last weight's gradient set by hand, or state
// loaded from a checkpoint, may not).
Tensor in_layout_of(const Tensor& t, const Tensor& p) {
  return t.strides() == p.strides() ? t : t.contiguous(p.suggest_memory_format());
}

std::vector<Tensor> grads_of(const std::vector<Tensor>& params) {
  std::vector<Tensor> g;
  for (const auto& p : params) g.push_back(in_layout_of(p.grad(), p));
  return g;
}

// SGD (torch::optim::SGD's update: momentum buffer = the first step's gradient, then
// momentum * buffer + (1 - dampening) * gradient).
class FusedSgd : public SGD {
 public:
  using SGD::SGD;
  Tensor step(Optimizer::LossClosure closure = nullptr) override {
    return fused_step<SGDOptions>(
        closure, param_groups_, [&](const SGDOptions& o, const std::vector<Tensor>& params) {
          if (o.momentum() == 0) {
            at::_fused_sgd_(params, grads_of(params), {}, o.weight_decay(), 0.0, o.lr(),
                            o.dampening(), o.nesterov(), false, false);
            return;
          }
          // Parameters stepping for the first time start their buffer from the gradient.
          std::vector<Tensor> first, later, first_buffers, later_buffers;
          for (const auto& p : params) {
            auto it = state_.find(p.unsafeGetTensorImpl());
            if (it == state_.end()) {
              auto s = std::make_unique<SGDParamState>();
              s->momentum_buffer(torch::empty_like(p, at::MemoryFormat::Preserve));
              first.push_back(p);
              first_buffers.push_back(s->momentum_buffer());
              state_[p.unsafeGetTensorImpl()] = std::move(s);
            } else {
              later.push_back(p);
              auto& state = static_cast<SGDParamState&>(*it->second);
              state.momentum_buffer(in_layout_of(state.momentum_buffer(), p));
              later_buffers.push_back(state.momentum_buffer());
            }
          }
          for (bool is_first : {true, false}) {
            auto& ps = is_first ? first : later;
            if (ps.empty()) continue;
            at::_fused_sgd_(ps, grads_of(ps), is_first ? first_buffers : later_buffers,
                            o.weight_decay(), o.momentum(), o.lr(), o.dampening(), o.nesterov(),
                            false, is_first);
          }
        });
  }
};

// Adam and AdamW: the fused kernels read each parameter's step count as a tensor on its device,
// kept beside LibTorch's integer count (which checkpoints hold).
template <class Base, class Options, class State, bool kDecoupled>
class FusedAdamLike : public Base {
 public:
  using Base::Base;
  Tensor step(Optimizer::LossClosure closure = nullptr) override {
    return fused_step<Options>(
        closure, this->param_groups_, [&](const Options& o, const std::vector<Tensor>& params) {
          const auto [beta1, beta2] = o.betas();
          std::vector<Tensor> avgs, sqs, maxes, steps;
          for (const auto& p : params) {
            auto& s = state_of(p, o.amsgrad());
            s.step(s.step() + 1);
            avgs.push_back(s.exp_avg());
            sqs.push_back(s.exp_avg_sq());
            if (o.amsgrad()) maxes.push_back(s.max_exp_avg_sq());
            steps.push_back(step_tensor(p, s.step() - 1));
          }
          at::_foreach_add_(steps, 1);
          if constexpr (kDecoupled) {
            at::_fused_adamw_(params, grads_of(params), avgs, sqs, maxes, steps, o.lr(), beta1,
                              beta2, o.weight_decay(), o.eps(), o.amsgrad(), false);
          } else {
            at::_fused_adam_(params, grads_of(params), avgs, sqs, maxes, steps, o.lr(), beta1,
                             beta2, o.weight_decay(), o.eps(), o.amsgrad(), false);
          }
        });
  }
  void load(torch::serialize::InputArchive& archive) override {
    Base::load(archive);
    steps_.clear();  // rebuilt from the loaded counts
  }

 private:
  State& state_of(const Tensor& p, bool amsgrad) {
    auto& slot = this->state_[p.unsafeGetTensorImpl()];
    if (!slot) {
      auto s = std::make_unique<State>();
      s->step(0);
      s->exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
      s->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
      if (amsgrad) s->max_exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
      slot = std::move(s);
    }
    auto& s = static_cast<State&>(*slot);
    s.exp_avg(in_layout_of(s.exp_avg(), p));
    s.exp_avg_sq(in_layout_of(s.exp_avg_sq(), p));
    if (amsgrad) s.max_exp_avg_sq(in_layout_of(s.max_exp_avg_sq(), p));
    return s;
  }
  // The float step count before this step, on p's device (made once, then counted there).
  Tensor step_tensor(const Tensor& p, int64_t count) {
    auto& t = steps_[p.unsafeGetTensorImpl()];
    if (!t.defined()) {
      t = torch::full({}, static_cast<double>(count), p.options().dtype(torch::kFloat32));
    }
    return t;
  }
  std::unordered_map<void*, Tensor> steps_;
};

using FusedAdam = FusedAdamLike<Adam, AdamOptions, AdamParamState, false>;
using FusedAdamW = FusedAdamLike<AdamW, AdamWOptions, AdamWParamState, true>;

template <class Optim, class Options>
std::unique_ptr<Optimizer> make(std::vector<OptimizerParamGroup> groups,
                                const OptimizerOptions& defaults) {
  return std::make_unique<Optim>(std::move(groups), static_cast<const Options&>(defaults));
}

}  // namespace

std::unique_ptr<Optimizer> make_fused_optimizer(const std::string& kind,
                                                std::vector<OptimizerParamGroup> groups,
                                                const OptimizerOptions& defaults) {
  if (kind == "sgd") return make<FusedSgd, SGDOptions>(std::move(groups), defaults);
  if (kind == "adam") return make<FusedAdam, AdamOptions>(std::move(groups), defaults);
  if (kind == "adamw") return make<FusedAdamW, AdamWOptions>(std::move(groups), defaults);
  throw Error("internal: no fused optimizer '" + kind + "'");
}

}  // namespace clbench
