#pragma once
// InfLoRA's retained subspaces, for inspection (tests, tools).
#include <vector>

#include <torch/types.h>

namespace clbench {

// Implemented by inflora: per block, the orthonormal basis {D, k} of the input subspace that
// earlier tasks' inputs occupy (DualGPM); undefined before the first task ends.
struct SubspaceKeeper {
  virtual ~SubspaceKeeper() = default;
  virtual const std::vector<torch::Tensor>& retained_bases() const = 0;
};

}  // namespace clbench
