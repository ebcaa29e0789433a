#include "harness/models/cnn.h"

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/models/backbones.h"

namespace clbench {

CnnImpl::CnnImpl(const CnnOptions& opts) : options(opts) {
  namespace nn = torch::nn;
  const int64_t w = options.width();
  const int64_t pooled = options.image_size() / 4;
  body = nn::Sequential(nn::Conv2d(nn::Conv2dOptions(options.in_channels(), w, 3).padding(1)),
                        nn::ReLU(), nn::MaxPool2d(2),
                        nn::Conv2d(nn::Conv2dOptions(w, 2 * w, 3).padding(1)), nn::ReLU(),
                        nn::MaxPool2d(2), nn::Flatten(),
                        nn::Linear(2 * w * pooled * pooled, options.features()), nn::ReLU());
  register_module("body", body);
}

torch::Tensor CnnImpl::forward(const torch::Tensor& images) {
  return body->forward(images);
}

namespace {

const bool registered_cnn = register_backbone(
    {"cnn", "cnn", "2 conv (32, 64 ch) + maxpool stages, 256-d dense features", true,
     [](const std::vector<int64_t>& s) -> std::shared_ptr<BackboneImpl> {
       if (s[1] != s[2] || s[1] % 4 != 0) {
         throw Error("backbone 'cnn' needs square images with a side divisible by 4, got " +
                     std::to_string(s[1]) + "x" + std::to_string(s[2]));
       }
       return Cnn(CnnOptions(s[0], s[1])).ptr();
     }});

}  // namespace
}  // namespace clbench
