#include "methods/parallel_adapter.h"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/random.h"

namespace clbench {

torch::Tensor SampleDropout::apply(const torch::Tensor& h, uint64_t salt) const {
  if (seeds.empty() || p == 0.0) return h;
  if (static_cast<int64_t>(seeds.size()) != h.size(0)) {
    throw Error("internal: dropout seeds for " + std::to_string(seeds.size()) + " samples, " +
                std::to_string(h.size(0)) + " in the batch");
  }
  std::vector<torch::Tensor> masks;
  const auto shape = h.sizes().slice(1).vec();
  for (uint64_t seed : seeds) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(mix_seed({seed, salt}));
    masks.push_back(torch::empty(shape).bernoulli_(1.0 - p, gen));
  }
  // F.dropout: kept activations scaled by 1 / (1 - p).
  return h * (torch::stack(masks).to(h.device(), h.scalar_type()) / (1.0 - p));
}

SampleDropout SampleDropout::of(const Batch& batch, double p) {
  SampleDropout d;
  d.p = p;
  if (!batch.augment_seed || p == 0.0) return d;
  for (int64_t i : batch.indices)
    d.seeds.push_back(mix_seed({*batch.augment_seed, static_cast<uint64_t>(i), 0xD40Full}));
  return d;
}

ParallelAdapterImpl::ParallelAdapterImpl(const ParallelAdapterOptions& o, at::Generator& gen)
    : options(o) {
  down = register_module("down", torch::nn::Linear(o.dim(), o.bottleneck()));
  up = register_module("up", torch::nn::Linear(o.bottleneck(), o.dim()));
  torch::NoGradGuard no_grad;
  // kaiming_uniform_(a = sqrt 5): U(-1 / sqrt(fan_in), 1 / sqrt(fan_in)).
  const double bound = 1.0 / std::sqrt(static_cast<double>(o.dim()));
  down->weight.uniform_(-bound, bound, gen);
  down->bias.zero_();
  up->weight.zero_();
  up->bias.zero_();
}

torch::Tensor ParallelAdapterImpl::forward(const torch::Tensor& x, const SampleDropout& dropout,
                                           uint64_t salt) {
  const auto hidden = dropout.apply(torch::relu(down->forward(x)), salt);
  return up->forward(hidden) * options.scale();
}

AdapterSetImpl::AdapterSetImpl(int64_t blocks, const ParallelAdapterOptions& options,
                               at::Generator& gen) {
  adapters = register_module("adapters", torch::nn::ModuleList());
  for (int64_t b = 0; b < blocks; ++b) adapters->push_back(ParallelAdapter(options, gen));
}

torch::Tensor MlpBranchHooks::mlp(size_t block, const torch::Tensor& x, const torch::Tensor& mlp) {
  if (!branch) return mlp;
  const auto extra = branch(block, x);
  return extra.defined() ? mlp + extra : mlp;
}

BranchScope::BranchScope(MlpBranchHooks& hooks, MlpBranchHooks::Branch branch)
    : hooks_(hooks), kept_(std::move(hooks.branch)) {
  hooks_.branch = std::move(branch);
}

BranchScope::~BranchScope() {
  hooks_.branch = std::move(kept_);
}

MlpBranchHooks::Branch adapter_set_branch(AdapterSet set, SampleDropout dropout) {
  return [set, dropout = std::move(dropout)](size_t block, const torch::Tensor& x) mutable {
    return (*set)[block].forward(x, dropout, block);
  };
}

}  // namespace clbench
