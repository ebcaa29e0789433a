#pragma once
#include <torch/types.h>

namespace clbench {

// Cosine similarity of every row of `a` {B, D} with every row of `b` {K, D}: {B, K}, rows
// normalised as torch's F.normalize (eps 1e-12), so a zero row scores 0.
torch::Tensor cosine_matrix(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace clbench
