#pragma once
// AdaptFormer's parallel adapter (Chen et al., NeurIPS 2022, Sec. 3.2), as the pretrained-model
// CL codes configure it (LAMDA-CL/LAMDA-PILOT backbone/vit_adapter.py for APER,
// sun-hailong/CVPR24-Ease backbone/vit_ease.py, huiyiwang01/SEMA-CL): next to each block's frozen
// MLP, on the stream after attention x_a,
//   out = x_a + (MLP(LN2 x_a) + s * Up(Dropout(ReLU(Down(x_a)))))
// (ffn_option 'parallel', no adapter LayerNorm, bottleneck 64, s = 0.1, dropout 0.1) with the
// LoRA-style init (Down kaiming_uniform(a = sqrt 5), Up and both biases zero): a fresh adapter adds
// exactly zero.
#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "datasets/batch.h"
#include "harness/models/vit.h"

namespace clbench {

struct ParallelAdapterOptions {
  ParallelAdapterOptions(int64_t dim, int64_t bottleneck) : dim_(dim), bottleneck_(bottleneck) {}
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(int64_t, bottleneck);
  TORCH_ARG(double, scale) = 0.1;
};

// The adapter keys of the PILOT-style methods (APER, EASE) at their official values, visited as a
// method's options ("<method>.bottleneck", ...).
struct AdapterKeys {
  int64_t bottleneck = 64;
  double scale = 0.1, dropout = 0.1;

  template <class V>
  void visit(V& v) {
    v("bottleneck", bottleneck, "adapter bottleneck width (official ffn_num 64)", {1, 100000});
    v("scale", scale, "adapter output scale s (official 0.1)", {0, 1e6});
    v("dropout", dropout, "dropout on the adapter's hidden units in training (official 0.1)",
      {0, 0.95});
  }
  ParallelAdapterOptions options(int64_t dim) const {
    return ParallelAdapterOptions(dim, bottleneck).scale(scale);
  }
};

// Dropout whose mask is drawn per sample from that sample's own seed, so that it does not depend
// on the rank or shard computing it (2 ranks give the bits of 1).
struct SampleDropout {
  double p = 0.0;
  std::vector<uint64_t> seeds;  // one per sample; empty: no dropout (evaluation, statistics)
  // h {B, ...} times a Bernoulli(1 - p) mask / (1 - p), sample b's from mix_seed({seeds[b], salt}).
  torch::Tensor apply(const torch::Tensor& h, uint64_t salt) const;
  // Training batches only (those with an augmentation seed): a seed per sample from it.
  static SampleDropout of(const Batch& batch, double p);
};

struct ParallelAdapterImpl : torch::nn::Module {
  // Down's weight from `gen` (rank-equal draws).
  ParallelAdapterImpl(const ParallelAdapterOptions& options, at::Generator& gen);
  // s * Up(Dropout(ReLU(Down(x)))), without the residual; `salt` tells this adapter's masks apart.
  torch::Tensor forward(const torch::Tensor& x, const SampleDropout& dropout = {},
                        uint64_t salt = 0);
  ParallelAdapterOptions options;
  torch::nn::Linear down{nullptr}, up{nullptr};
};
TORCH_MODULE(ParallelAdapter);

// One adapter per ViT block (PILOT's and EASE's `cur_adapter`): EASE keeps one set per task.
struct AdapterSetImpl : torch::nn::Module {
  AdapterSetImpl(int64_t blocks, const ParallelAdapterOptions& options, at::Generator& gen);
  ParallelAdapterImpl& operator[](size_t block) {
    return *adapters[block]->as<ParallelAdapterImpl>();
  }
  size_t size() const { return adapters->size(); }
  torch::nn::ModuleList adapters;
};
TORCH_MODULE(AdapterSet);

// The ViT hooks of the adapter methods: `branch` (block, x_a) is added to each block's MLP output
// (VitHooks::mlp); undefined result or no branch: the plain block, bit for bit.
struct MlpBranchHooks : VitHooks {
  using Branch = std::function<torch::Tensor(size_t block, const torch::Tensor& x)>;
  Branch branch;
  torch::Tensor mlp(size_t block, const torch::Tensor& x, const torch::Tensor& mlp) override;
};

// Sets hooks.branch while it lives (one forward pass under one adapter configuration).
class BranchScope {
 public:
  BranchScope(MlpBranchHooks& hooks, MlpBranchHooks::Branch branch);
  ~BranchScope();
  BranchScope(const BranchScope&) = delete;
  BranchScope& operator=(const BranchScope&) = delete;

 private:
  MlpBranchHooks& hooks_;
  MlpBranchHooks::Branch kept_;
};

// The branch of one adapter set with `dropout` (the set's adapter `block` on block `block`).
MlpBranchHooks::Branch adapter_set_branch(AdapterSet set, SampleDropout dropout = {});

}  // namespace clbench
