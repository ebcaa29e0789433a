#include "harness/models/batch_norm.h"

#include <algorithm>
#include <atomic>

#include <torch/torch.h>

namespace clbench {
namespace {

std::atomic<int64_t> live_batch_norms{0};
thread_local int current_shard = -1;
thread_local std::vector<RunningUpdate> recorded;

}  // namespace

BatchNorm2dImpl::BatchNorm2dImpl(int64_t c, double e, double m) : channels(c), eps(e), momentum(m) {
  weight = register_parameter("weight", torch::ones({c}));
  bias = register_parameter("bias", torch::zeros({c}));
  running_mean = register_buffer("running_mean", torch::zeros({c}));
  running_var = register_buffer("running_var", torch::ones({c}));
  num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
  ++live_batch_norms;
}

BatchNorm2dImpl::~BatchNorm2dImpl() {
  --live_batch_norms;
}

torch::Tensor BatchNorm2dImpl::forward(const torch::Tensor& x) {
  const bool cudnn = torch::globalContext().userEnabledCuDNN();
  if (!is_training()) {
    return torch::batch_norm(x, weight, bias, running_mean, running_var, false, momentum, eps,
                             cudnn);
  }
  if (current_shard < 0) {
    num_batches_tracked.add_(1);
    return torch::batch_norm(x, weight, bias, running_mean, running_var, true, momentum, eps,
                             cudnn);
  }
  RunningUpdate u;
  u.shard = current_shard;
  u.samples = x.size(0);
  u.running_mean = running_mean;
  u.running_var = running_var;
  u.num_batches_tracked = num_batches_tracked;
  u.momentum = momentum;
  // With momentum 1 from zeros the kernel's own update writes exactly the batch statistics
  // (1 * s + 0 * 0), from the same pass that normalises.
  u.mean = torch::zeros_like(running_mean);
  u.var = torch::zeros_like(running_var);
  torch::Tensor y;
  if (x.size(0) == 0) {  // an empty shard: no statistics, but the graph still reaches the affine
    y = x * weight.view({1, -1, 1, 1}) + bias.view({1, -1, 1, 1});
  } else {
    y = torch::batch_norm(x, weight, bias, u.mean, u.var, true, 1.0, eps, cudnn);
  }
  recorded.push_back(std::move(u));
  return y;
}

ShardScope::ShardScope(int shard) : previous_(current_shard) {
  current_shard = shard;
}
ShardScope::~ShardScope() {
  current_shard = previous_;
}

bool has_batch_norm(torch::nn::Module& model) {
  const auto modules = model.modules();
  return std::any_of(modules.begin(), modules.end(), [](const auto& m) {
    return m->name().find("BatchNorm") != std::string::npos;
  });
}

bool batch_norms_exist() {
  return live_batch_norms.load() > 0;
}

std::vector<RunningUpdate> take_running_updates() {
  std::vector<RunningUpdate> out;
  out.swap(recorded);
  return out;
}

void apply_running_updates(const std::vector<RunningUpdate>& updates) {
  torch::NoGradGuard no_grad;
  for (const auto& u : updates) {
    if (u.samples == 0) continue;
    u.running_mean.mul_(1.0 - u.momentum).add_(u.mean, u.momentum);
    u.running_var.mul_(1.0 - u.momentum).add_(u.var, u.momentum);
    u.num_batches_tracked.add_(1);
  }
}

}  // namespace clbench
