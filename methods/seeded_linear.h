#pragma once
#include <cstdint>

#include <ATen/core/Generator.h>
#include <torch/nn/modules/linear.h>

namespace clbench {

// A Linear(in, out) with torch.nn.Linear's default init drawn from `gen` (a generator every rank
// seeds alike): weight and bias U(-1/sqrt(in), 1/sqrt(in)).
torch::nn::Linear seeded_linear(int64_t in, int64_t out, at::Generator& gen);

}  // namespace clbench
