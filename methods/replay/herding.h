#pragma once
// Herding selection of exemplars (Welling 2009; iCaRL, Rebuffi et al. 2017, Alg. 4): greedily add
// the sample that brings the mean of the chosen ones closest to the class mean.
#include <cstdint>
#include <functional>
#include <vector>

#include <torch/types.h>

#include "datasets/task_stream.h"
#include "methods/replay/class_balanced.h"

namespace clbench {

// Rows of `features` ({n, d}, e.g. L2-normalised) in the order herding picks them, `m` of them
// (all n if fewer): step k picks the not yet chosen i minimising ||mu - (S + f_i) / k|| with S the
// sum of the chosen rows and mu the mean of all rows (ties: the lowest i).
std::vector<int64_t> herding_order(const torch::Tensor& features, int64_t m);

// iCaRL Alg. 4-5 for a task: each class of `task`'s training samples (class_of(sample)) herded
// from its samples' features (features_of(its samples) -> {n, d}, row i for the i-th) up to the
// quota it will have once the classes of tasks 1..t share `memory`'s capacity, stored, and then
// every class trimmed to its quota (ClassBalancedMemory::update).
void herd_task(ClassBalancedMemory& memory, const Task& task,
               const std::function<int64_t(int64_t)>& class_of,
               const std::function<torch::Tensor(const std::vector<int64_t>&)>& features_of);

}  // namespace clbench
