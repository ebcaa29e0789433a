#pragma once
// BatchNorm2d with torchvision's names (weight, bias, running_mean, running_var,
// num_batches_tracked) and the same math, whose running statistics never depend on how a global
// batch is spread over ranks.
//
// Training normalises each shard of a global batch with that shard's own statistics (as PyTorch
// and DDP do on each rank). PyTorch would then update the running statistics in place, once per
// forward, so two ranks would each hold different ones. Here, while a ShardScope is open (the step
// loop opens one around every shard's loss), the update is only recorded; after the step every
// rank gathers the records of all shards and applies them in shard order (harness/engine:
// running_statistics.h), so every rank holds the same bits and K shards on one rank give exactly
// what K shards on K ranks give. Outside a ShardScope a training forward updates in place, as
// PyTorch does.
#include <cstdint>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace clbench {

struct BatchNorm2dImpl : torch::nn::Module {
  explicit BatchNorm2dImpl(int64_t channels, double eps = 1e-5, double momentum = 0.1);
  ~BatchNorm2dImpl() override;
  torch::Tensor forward(const torch::Tensor& x);
  int64_t channels;
  double eps, momentum;
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
};
TORCH_MODULE(BatchNorm2d);

// One recorded update: the statistics of shard `shard`'s `calls`-th training forward through a
// batch norm (`samples` 0: an empty shard, nothing to apply).
struct RunningUpdate {
  int shard = 0;
  int64_t samples = 0;
  torch::Tensor mean, var;  // the shard's batch mean and unbiased variance {C}
  torch::Tensor running_mean, running_var, num_batches_tracked;  // the module's buffers
  double momentum = 0.1;
};

// Records the running-statistic updates of training forwards as coming from shard `shard`.
class ShardScope {
 public:
  explicit ShardScope(int shard);
  ~ShardScope();
  ShardScope(const ShardScope&) = delete;
  ShardScope& operator=(const ShardScope&) = delete;

 private:
  int previous_;
};

// Whether `model` has a batch norm (this file's, or any of LibTorch's BatchNorm modules): in
// training mode a sample's output then depends on the other samples of its forward.
bool has_batch_norm(torch::nn::Module& model);
// Whether any BatchNorm2d exists in this process (every rank builds the same models, so all agree).
bool batch_norms_exist();
// The updates recorded since the last call, in the order they were made.
std::vector<RunningUpdate> take_running_updates();
// running = (1 - momentum) * running + momentum * batch statistic, in the given order.
void apply_running_updates(const std::vector<RunningUpdate>& updates);

}  // namespace clbench
