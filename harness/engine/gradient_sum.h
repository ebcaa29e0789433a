#pragma once
// How a training step's gradients are summed over ranks: one interface over the three ways.
//   inline      after the step's backwards, one fused sum of every gradient (sum_gradients);
//   overlapped  buckets summed while backward runs, as PyTorch DDP does (GradientReducer);
//   shard tree  grad_shards fixed: each shard's gradients set aside and added in one tree over the
//               shard indices, the same bits on any number of ranks (shard_tree.h).
// The step's stop vote rides in the sum, so every rank learns of a stop after the same step.
#include <memory>
#include <vector>

#include <torch/types.h>

namespace clbench {

class Communicator;
struct StepControl;

class GradientSum {
 public:
  virtual ~GradientSum() = default;
  // Before the backward of this rank's last shard of the step (`stop`: this rank's vote).
  virtual void before_last_backward(bool /*stop*/) {}
  // After each shard's backward.
  virtual void after_shard_backward() {}
  // After the step's backwards: the sums over ranks are in the parameters' gradients (a parameter
  // no rank gave a gradient keeps none). Returns how many ranks voted to stop, on the device,
  // read later with the step's loss.
  virtual torch::Tensor finish(bool stop) = 0;
  // A half-done step is abandoned: forget what was set aside.
  virtual void abandon() {}
};

// The sum the control's settings choose for `params` (a trivial one on one rank).
std::unique_ptr<GradientSum> make_gradient_sum(Communicator& comm,
                                               const std::vector<torch::Tensor>& params,
                                               const StepControl& control);

}  // namespace clbench
