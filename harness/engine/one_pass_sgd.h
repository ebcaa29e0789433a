#pragma once
// LibTorch's SGD with its CPU update in one pass over each float32 tensor. SGD::step runs up to
// four ATen kernels per parameter (weight decay, buf *= momentum, buf += (1 - dampening) d,
// p += -lr d), each a pass over memory; this does the same operations on each element in the same
// order and rounding (ATen's add with alpha is a fused multiply-add), so the same bits with one
// pass. Anything else (another device or dtype, a non-contiguous tensor, a processor without
// AVX2/FMA) steps through SGD::step itself. The state is SGD's, so checkpoints are interchangeable.
#include <memory>
#include <vector>

namespace torch::optim {
class Optimizer;
class OptimizerParamGroup;
class SGDOptions;
}  // namespace torch::optim

namespace clbench {

std::unique_ptr<torch::optim::Optimizer> make_one_pass_sgd(
    std::vector<torch::optim::OptimizerParamGroup> groups,
    const torch::optim::SGDOptions& defaults);

}  // namespace clbench
