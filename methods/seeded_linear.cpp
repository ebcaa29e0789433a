#include "methods/seeded_linear.h"

#include <cmath>

#include <torch/torch.h>

namespace clbench {

torch::nn::Linear seeded_linear(int64_t in, int64_t out, at::Generator& gen) {
  torch::nn::Linear l(in, out);
  torch::NoGradGuard no_grad;
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  l->weight.uniform_(-bound, bound, gen);
  l->bias.uniform_(-bound, bound, gen);
  return l;
}

}  // namespace clbench
