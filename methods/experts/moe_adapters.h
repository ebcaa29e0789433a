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
  }
  void check(const std::string& prefix) const;
};

// One block's experts and router: W_gate, W_noise {D, E}, zero-initialised.
struct MoeLayerImpl : torch::nn::Module {
  MoeLayerImpl(int64_t experts, const ParallelAdapterOptions& options, at::Generator& gen);
  ParallelAdapterImpl& expert(size_t e) { return *experts[e]->as<ParallelAdapterImpl>(); }
  torch::nn::ModuleList experts;
  torch::Tensor w_gate, w_noise;
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

  // Block `block`'s gates {B, E} for the class tokens `cls` {B, D}; `noise_seeds` (one per
  // sample; empty: the clean logits) seed each sample's router noise.
  Routing route(size_t block, const torch::Tensor& cls, const std::vector<uint64_t>& noise_seeds);
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
                                std::vector<torch::Tensor>* balance, torch::Tensor* selected);
  void apply_frozen();

  MoeAdaptersOptions opt_;
  std::shared_ptr<VitImpl> vit_;
  std::shared_ptr<MlpBranchHooks> hooks_;
  torch::nn::ModuleList layers_{nullptr};
  torch::Tensor counts_;         // {depth, E} float64 on the host: selections over the tasks so far
  std::vector<int64_t> frozen_;  // depth x E flags
};

}  // namespace clbench
