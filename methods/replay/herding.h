#pragma once
// Herding selection of exemplars (Welling 2009; iCaRL, Rebuffi et al. 2017, Alg. 4): greedily add
// the sample that brings the mean of the chosen ones closest to the class mean.
#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include <torch/types.h>

namespace clbench {

// Rows of `features` ({n, d}, e.g. L2-normalised) in the order herding picks them, `m` of them
// (all n if fewer): step k picks the not yet chosen i minimising ||mu - (S + f_i) / k|| with S the
// sum of the chosen rows and mu the mean of all rows (ties: the lowest i).
std::vector<int64_t> herding_order(const torch::Tensor& features, int64_t m);

// Each class of `samples` (class_of(sample)) herded from its samples' features (features_of(its
// samples) -> {n, d}, row i for the i-th) up to `quota` exemplars (iCaRL Alg. 4 per class, the new
// classes of a task): class -> its exemplars in herding order.
std::map<int64_t, std::vector<int64_t>> herd_classes(
    const std::vector<int64_t>& samples, const std::function<int64_t(int64_t)>& class_of,
    int64_t quota, const std::function<torch::Tensor(const std::vector<int64_t>&)>& features_of);

}  // namespace clbench
