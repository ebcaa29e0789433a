#pragma once
// Herding selection of exemplars (Welling 2009; iCaRL, Rebuffi et al. 2017, Alg. 4): greedily add
// the sample that brings the mean of the chosen ones closest to the class mean.
#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace clbench {

// Rows of `features` ({n, d}, e.g. L2-normalised) in the order herding picks them, `m` of them
// (all n if fewer): step k picks the not yet chosen i minimising ||mu - (S + f_i) / k|| with S the
// sum of the chosen rows and mu the mean of all rows (ties: the lowest i).
std::vector<int64_t> herding_order(const torch::Tensor& features, int64_t m);

}  // namespace clbench
