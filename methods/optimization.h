#pragma once
// What an optimiser is asked to do, as plain data: the parameters in groups with their own
// learning rate and weight decay, and the optimiser's kind and options. The engine builds the
// optimiser (harness/engine/optim.h); methods only describe it.
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

namespace clbench {

struct ParamGroup {
  std::vector<torch::Tensor> params;
  std::optional<double> lr, weight_decay;  // unset: the optimiser's
  double lr_scale = 1.0;                   // times the group's lr (HiDe-Prompt's head: 0.1)
};

// Every group's parameters in one list, in group order.
inline std::vector<torch::Tensor> flat_params(const std::vector<ParamGroup>& groups) {
  std::vector<torch::Tensor> out;
  for (const auto& g : groups) out.insert(out.end(), g.params.begin(), g.params.end());
  return out;
}

struct OptimizerSpec {
  std::string kind = "sgd";  // sgd | adam (L2 weight decay, torch.optim.Adam) | adamw (decoupled)
  double lr = 0.01;
  double momentum = 0.0;  // sgd only
  double weight_decay = 0.0;
};

}  // namespace clbench
