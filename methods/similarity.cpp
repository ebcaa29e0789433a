#include "methods/similarity.h"

#include <torch/torch.h>

namespace clbench {

torch::Tensor cosine_matrix(const torch::Tensor& a, const torch::Tensor& b) {
  namespace F = torch::nn::functional;
  const auto unit = F::NormalizeFuncOptions().dim(1);
  return torch::matmul(F::normalize(a, unit), F::normalize(b, unit).t());
}

}  // namespace clbench
