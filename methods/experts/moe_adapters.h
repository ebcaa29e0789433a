#pragma once
// MoE-Adapters (Yu et al., "Boosting Continual Learning of Vision-Language Models via
// Mixture-of-Experts Adapters", CVPR 2024, arXiv 2403.11549), on the ViT with a linear head: in
// every block a mixture of AdaptFormer adapter experts next to the frozen MLP, on the stream after
// attention x_a, weighted by a noisy top-k router (Shazeer et al. 2017) that reads the block's
// class token:
//   x <- x_a + MLP(LN2 x_a) + sum_i g_i(x_a[CLS]) Expert_i(x_a)
// (JiazuoYu/MoE-Adapters4CL cil/clip/model.py ResidualAttentionBlock.forward). See
// moe_adapters.cpp for what clbench does differently and why.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "methods/frozen_vit.h"
#include "methods/method.h"
#include "methods/parallel_adapter.h"

namespace clbench {

struct MoeAdaptersOptions {
  TORCH_ARG(int64_t, experts) = 2;
  TORCH_ARG(int64_t, top_k) = 2;
  TORCH_ARG(int64_t, frozen_per_task) = 0;
  TORCH_ARG(int64_t, bottleneck) = 64;
  TORCH_ARG(double, scale) = 0.1;
  TORCH_ARG(double, dropout) = 0.1;
  TORCH_ARG(double, balance_weight) = 0.0;
  TORCH_ARG(bool, task_routers) = false;
  TORCH_ARG(int64_t, selector_code) = 100;
  TORCH_ARG(int64_t, selector_steps) = 1000;
  TORCH_ARG(double, selector_lr) = 0.01;

 public:
  template <class V>
  void visit(V& v) {
    v("experts", experts_, "adapter experts per block (official CIL 2, MTIL 22)", {1, 4096});
    v("top_k", top_k_, "experts each image is routed to (official 2)", {1, 4096});
    v("frozen_per_task", frozen_per_task_,
      "after each task, the experts most often selected so far (per block) are frozen (official "
      "MTIL 2; the CIL code freezes none: 0)",
      {0, 4096});
    v("bottleneck", bottleneck_, "each expert's bottleneck (official 64)", {1, 100000});
    v("scale", scale_, "each expert's output scale s (official 0.1)", {0, 1e6});
    v("dropout", dropout_, "dropout after each expert's ReLU (official 0.1)", {0, 0.99});
    v("balance_weight", balance_weight_,
      "weight of the load-balancing loss cv^2(importance) + cv^2(load) per block (official code: "
      "computed with 1e-2, never added: 0); > 0 couples the samples of a gradient shard",
      {0, 1e6});
    v("task_routers", task_routers_,
      "one router per task (the MTIL code's router_list; its CIL code has one): a task trains its "
      "own, and at test each image takes the router of the task whose autoencoder reconstructs "
      "its frozen feature best (MTIL's DDAS selector, on the frozen ViT's class token)");
    v("selector_code", selector_code_, "with task_routers: each autoencoder's code size (100)",
      {1, 100000});
    v("selector_steps", selector_steps_,
      "with task_routers: steps of each task's autoencoder fit (official iterations 1000)",
      {0, 1e9});
    v("selector_lr", selector_lr_,
      "with task_routers: its Adam lr (official 0.01, x0.1 every 10 epochs, weight decay 1e-4)",
      {0, 1e6});
  }
  void check(const std::string& prefix) const;
};

// One block's experts and its `routers` routers (one, or one per task): W_gate, W_noise {D, E},
// zero-initialised; router 0 is w_gate / w_noise.
struct MoeLayerImpl : torch::nn::Module {
  MoeLayerImpl(int64_t experts, const ParallelAdapterOptions& options, at::Generator& gen,
               int64_t routers = 1);
  ParallelAdapterImpl& expert(size_t e) { return *experts[e]->as<ParallelAdapterImpl>(); }
  const torch::Tensor& gate(size_t router) const {
    return router == 0 ? w_gate : gates[router - 1];
  }
  const torch::Tensor& noise(size_t router) const {
    return router == 0 ? w_noise : noises[router - 1];
  }
  torch::nn::ModuleList experts;
  torch::Tensor w_gate, w_noise;
  std::vector<torch::Tensor> gates, noises;  // routers 1, 2, ...
};
TORCH_MODULE(MoeLayer);

// Noisy top-k gating (Shazeer et al. 2017, Sec. 2.1): `clean` logits {B, E}; with `noise` {B, E}
// of N(0, 1) draws and `noise_std` {B, E}, logits = clean + noise * noise_std (training), else
// the clean ones. Gates: a softmax over each row's top k logits, 0 elsewhere. Load per expert
// (for the balance loss): with noise and k < E, the sum over samples of the probability of being
// in the top k (Sec. 4, _prob_in_top_k), else the count of nonzero gates.
struct Routing {
  torch::Tensor gates, load;
};
Routing noisy_top_k(const torch::Tensor& clean, const torch::Tensor& noise,
                    const torch::Tensor& noise_std, int64_t k);
// The squared coefficient of variation var(x) / (mean(x)^2 + 1e-10); 0 for one element.
torch::Tensor cv_squared(const torch::Tensor& x);

class MoeAdapters : public Method {
 public:
  explicit MoeAdapters(MoeAdaptersOptions o) : opt_(std::move(o)) {}

  torch::Tensor loss(const Batch& batch) override;
  torch::Tensor logits(const Batch& batch) override;
  void end_task(const Task& task) override;
  std::vector<torch::Tensor> trainable_parameters() override;
  int64_t stored_parameters() const override;
  void state(StateVisitor& v) override;
  void after_load() override { apply_frozen(); }

  // Block `block`'s gates {B, E} for the class tokens `cls` {B, D} through router `routers`
  // (one per sample {B}; undefined: router 0); `noise_seeds` (one per sample; empty: the clean
  // logits) seed each sample's router noise.
  Routing route(size_t block, const torch::Tensor& cls, const std::vector<uint64_t>& noise_seeds,
                const torch::Tensor& routers = {});
  // With task_routers: the task whose autoencoder reconstructs each image's frozen feature best,
  // among the tasks seen {B} (MTIL's DDAS, per image).
  torch::Tensor select_routers(const torch::Tensor& images);
  // The autoencoder of task t: Linear(D, code), ReLU, Linear(code, D), Sigmoid.
  torch::nn::Sequential& selector(size_t t) { return selectors_[t]; }
  int64_t forward_passes() const override { return opt_.task_routers() ? 2 : 1; }
  // Per-sample seeds of a training batch's router noise (empty for a batch without augmentation
  // seed: evaluation, statistics).
  static std::vector<uint64_t> noise_seeds(const Batch& batch);
  MoeLayerImpl& layer(size_t block) { return *layers_[block]->as<MoeLayerImpl>(); }
  size_t depth() const { return layers_->size(); }
  bool frozen(size_t block, int64_t expert) const {
    return frozen_[block * static_cast<size_t>(opt_.experts()) + static_cast<size_t>(expert)] != 0;
  }
  const torch::Tensor& selection_counts() const { return counts_; }  // {depth, E}, cumulative

 protected:
  void on_attach() override;

 private:
  // The mixture's branch: gates from each block's class token (with noise from `seeds` if
  // given), experts with `dropout`; each block's balance loss appended to `balance` if given,
  // each block's gates > 0 summed into row `block` of `selected` if given.
  MlpBranchHooks::Branch branch(std::vector<uint64_t> seeds, SampleDropout dropout,
                                std::vector<torch::Tensor>* balance, torch::Tensor* selected,
                                torch::Tensor routers = {});
  void apply_frozen();
  // The routers of a training batch: the current task's for every sample (undefined: router 0).
  torch::Tensor task_router(int64_t samples) const;
  void fit_selector(const Task& task);

  MoeAdaptersOptions opt_;
  std::shared_ptr<VitImpl> vit_;
  std::shared_ptr<MlpBranchHooks> hooks_;
  torch::nn::ModuleList layers_{nullptr};
  torch::Tensor counts_;         // {depth, E} float64 on the host: selections over the tasks so far
  std::vector<int64_t> frozen_;  // depth x E flags
  std::vector<torch::nn::Sequential> selectors_;  // per task, with task_routers
};

}  // namespace clbench
