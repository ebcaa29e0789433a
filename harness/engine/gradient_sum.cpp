#include "harness/engine/gradient_sum.h"

#include <algorithm>

#include <torch/torch.h>

#include "harness/distributed/communicator.h"
#include "harness/distributed/gradient_reducer.h"
#include "harness/engine/shard_tree.h"
#include "harness/engine/step_loop.h"

namespace clbench {
namespace {

// Autograd accumulates the shards' gradients in place; one fused sum over ranks after them.
class InlineSum : public GradientSum {
 public:
  InlineSum(Communicator& comm, std::vector<torch::Tensor> params)
      : comm_(comm), params_(std::move(params)) {}
  torch::Tensor finish(bool stop) override { return comm_.sum_gradients(params_, stop); }

 private:
  Communicator& comm_;
  std::vector<torch::Tensor> params_;
};

// The same sums, started bucket by bucket while the last shard's backward runs.
class OverlappedSum : public GradientSum {
 public:
  OverlappedSum(Communicator& comm, const std::vector<torch::Tensor>& params)
      : reducer_(comm, params) {}
  void before_last_backward(bool stop) override { reducer_.arm(stop); }
  torch::Tensor finish(bool) override { return reducer_.finish(); }

 private:
  GradientReducer reducer_;
};

// Each shard's gradients taken out of the parameters (so the next backward starts from none) and
// added in the tree over shard indices, then over ranks.
class ShardTreeSum : public GradientSum {
 public:
  ShardTreeSum(Communicator& comm, std::vector<torch::Tensor> params)
      : comm_(comm), params_(std::move(params)), has_gradient_(params_.size(), 0.0) {}

  void after_shard_backward() override {
    std::vector<torch::Tensor> gradients;
    for (size_t i = 0; i < params_.size(); ++i) {
      auto& grad = params_[i].mutable_grad();
      if (grad.defined()) {
        has_gradient_[i] = 1.0;
        gradients.push_back(grad);
        grad = torch::Tensor();
      } else {
        gradients.push_back(torch::zeros_like(params_[i]));
      }
    }
    tree_.add(std::move(gradients));
  }

  torch::Tensor finish(bool stop) override {
    // Which parameters got a gradient on some rank, and the stop votes: one small sum.
    auto flags = has_gradient_;
    flags.push_back(stop ? 1.0 : 0.0);
    const auto summed = comm_.sum(torch::tensor(flags, torch::kFloat64)).to(torch::kCPU);
    const auto sums = sum_blocks_over_ranks(comm_, tree_.total());
    const auto got = summed.accessor<double, 1>();
    for (size_t p = 0; p < params_.size(); ++p) {
      params_[p].mutable_grad() = got[static_cast<int64_t>(p)] != 0 ? sums[p] : torch::Tensor();
    }
    clear();
    return summed.narrow(0, static_cast<int64_t>(params_.size()), 1);
  }

  void abandon() override { clear(); }

 private:
  // Ready for the next step: nothing set aside.
  void clear() {
    tree_ = ShardTree();
    std::fill(has_gradient_.begin(), has_gradient_.end(), 0.0);
  }

  Communicator& comm_;
  std::vector<torch::Tensor> params_;
  std::vector<double> has_gradient_;
  ShardTree tree_;
};

}  // namespace

std::unique_ptr<GradientSum> make_gradient_sum(Communicator& comm,
                                               const std::vector<torch::Tensor>& params,
                                               const StepControl& control) {
  if (control.shard_tree) return std::make_unique<ShardTreeSum>(comm, params);
  if (control.overlap_reduction && comm.size() > 1 && !params.empty())
    return std::make_unique<OverlappedSum>(comm, params);
  return std::make_unique<InlineSum>(comm, params);
}

}  // namespace clbench
