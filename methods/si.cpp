// Synaptic Intelligence (Zenke, Poole & Ganguli 2017, Eqs. 4-5): per-parameter importance from the
// path integral of gradient times update, accumulated online during each task.
#include <torch/torch.h>

#include "methods/method.h"
#include "methods/quadratic_penalty.h"

namespace clbench {
namespace {

struct SiOptions {
  TORCH_ARG(double, c) = 10.0;
  TORCH_ARG(double, xi) = 0.1;

 public:
  template <class V>
  void visit(V& v) {
    v("c", c_, "strength of the surrogate loss c * sum Omega (theta - theta~)^2", {0, 1e12});
    v("xi", xi_, "damping xi in Omega += omega / (delta^2 + xi)", {1e-12, 1e12});
  }
};

class Si : public Method {
 public:
  explicit Si(SiOptions o) : opt_(o) {}

  void on_begin_task(const Task&) override {
    const auto params = trainable_parameters();
    if (importance_.empty()) {
      for (const auto& p : params) {
        importance_.push_back(torch::zeros_like(p));
        anchor_.push_back(p.detach().clone());
      }
    }
    path_.clear();
    task_start_.clear();
    previous_.clear();
    for (const auto& p : params) {
      path_.push_back(torch::zeros_like(p));
      task_start_.push_back(p.detach().clone());
      previous_.push_back(p.detach().clone());
    }
  }

  torch::Tensor loss(const Batch& batch) override {
    auto total = model_loss(batch);
    if (task_->index == 0) return total;  // Omega is still zero
    return total + quadratic_penalty(trainable_parameters(), importance_, anchor_, opt_.c());
  }

  // Gradients here are already averaged over ranks, so every rank accumulates the same path.
  void after_backward() override {
    gradients_.clear();
    for (const auto& p : trainable_parameters()) {
      gradients_.push_back(p.grad().defined() ? p.grad().detach().clone() : torch::zeros_like(p));
    }
  }

  // omega_k += -g_k * (theta_k(t+1) - theta_k(t))  (Eq. 4, discretised per optimizer step)
  void after_step() override {
    const auto params = trainable_parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      const auto now = params[i].detach();
      path_[i].sub_(gradients_[i] * (now - previous_[i]));
      previous_[i].copy_(now);
    }
  }

  // Omega_k += omega_k / ((Delta theta_k)^2 + xi)  (Eq. 5); new anchor theta~ = end-of-task weights
  void end_task(const Task&) override {
    const auto params = trainable_parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      const auto now = params[i].detach();
      importance_[i].add_(path_[i] / ((now - task_start_[i]).pow(2) + opt_.xi()));
      anchor_[i] = now.clone();
    }
  }

  void state(StateVisitor& v) override {
    v("importance", importance_);
    v("anchor", anchor_);
    v("path", path_);
    v("task_start", task_start_);
    v("previous", previous_);
  }

 private:
  SiOptions opt_;
  std::vector<torch::Tensor> importance_, anchor_;           // Omega, theta~
  std::vector<torch::Tensor> path_, task_start_, previous_;  // omega, theta at task start, theta(t)
  std::vector<torch::Tensor> gradients_;
};

const bool registered_si =
    register_method(method_entry<Si, SiOptions>(
                        "si", "Synaptic Intelligence (Zenke 2017): online path-integral importance")
                        .runs_on_shared_classes());

}  // namespace
}  // namespace clbench
