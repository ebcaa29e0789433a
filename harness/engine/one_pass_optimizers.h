#pragma once
// LibTorch's SGD, Adam and AdamW with their CPU update in one pass over each float32 tensor.
// SGD::step runs up to four ATen kernels per parameter (weight decay, buf *= momentum,
// buf += (1 - dampening) d, p += -lr d) and Adam::step eight (with temporaries), each a pass over
// memory; these do the same operations on each element in the same order and rounding (ATen's add
// with alpha and its addcmul are fused multiply-adds), so the same bits with one pass (Adam: two,
// around ATen's own square root on a cache-sized block). Anything else (another device or dtype, a
// non-contiguous tensor, amsgrad, a processor without AVX2/FMA) steps through LibTorch's step
// itself. The state is LibTorch's, so checkpoints are interchangeable.
#include <memory>
#include <vector>

namespace at {
class Tensor;
}

namespace torch::optim {
class Optimizer;
class OptimizerParamGroup;
class SGDOptions;
class AdamOptions;
class AdamWOptions;
}  // namespace torch::optim

namespace clbench {

std::unique_ptr<torch::optim::Optimizer> make_one_pass_sgd(
    std::vector<torch::optim::OptimizerParamGroup> groups,
    const torch::optim::SGDOptions& defaults);
std::unique_ptr<torch::optim::Optimizer> make_one_pass_adam(
    std::vector<torch::optim::OptimizerParamGroup> groups,
    const torch::optim::AdamOptions& defaults);
std::unique_ptr<torch::optim::Optimizer> make_one_pass_adamw(
    std::vector<torch::optim::OptimizerParamGroup> groups,
    const torch::optim::AdamWOptions& defaults);

namespace detail {
// `t` is one dense float32 CPU array shaped as `like`.
bool dense_float_cpu(const at::Tensor& t, const at::Tensor& like);
}  // namespace detail

}  // namespace clbench
