#pragma once
// SGD, Adam and AdamW on ATen's fused kernels (torch.optim's fused=True): one kernel per
// parameter group updates all its tensors, where LibTorch's optimizers loop over them one tensor
// and several kernels at a time. They are LibTorch's SGD, Adam and AdamW otherwise (the same
// options and per-parameter state), so a checkpoint written by one loads into the other; the
// numbers agree with theirs up to float rounding.
#include <memory>
#include <string>
#include <vector>

namespace torch::optim {
class Optimizer;
class OptimizerParamGroup;
class OptimizerOptions;
}  // namespace torch::optim

namespace clbench {

// kind: sgd | adam | adamw; `defaults` are the matching LibTorch options.
std::unique_ptr<torch::optim::Optimizer> make_fused_optimizer(
    const std::string& kind, std::vector<torch::optim::OptimizerParamGroup> groups,
    const torch::optim::OptimizerOptions& defaults);

}  // namespace clbench
