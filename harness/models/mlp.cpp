#include "harness/models/mlp.h"

#include <torch/torch.h>

#include "harness/models/backbones.h"

namespace clbench {

MlpImpl::MlpImpl(const MlpOptions& opts) : options(opts) {
  body = torch::nn::Sequential();
  int64_t in = options.in_features();
  for (int64_t i = 0; i < options.layers(); ++i) {
    body->push_back(torch::nn::Linear(in, options.hidden()));
    body->push_back(torch::nn::ReLU());
    in = options.hidden();
  }
  register_module("body", body);
}

torch::Tensor MlpImpl::forward(const torch::Tensor& images) {
  return body->forward(layers_input(images));
}

namespace {

const bool registered_mlp =
    register_backbone({"mlp", "mlp", "2 x 400 ReLU MLP on flattened pixels", true,
                       [](const std::vector<int64_t>& s) -> std::shared_ptr<BackboneImpl> {
                         return Mlp(MlpOptions(s[0] * s[1] * s[2])).ptr();
                       }});

}  // namespace
}  // namespace clbench
