#include "harness/models.h"

#include <torch/torch.h>

#include "harness/error.h"
#include "harness/vit.h"

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
  return body->forward(images.flatten(1));
}

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

ClassifierImpl::ClassifierImpl(std::shared_ptr<BackboneImpl> bb, int64_t num_classes)
    : backbone(std::move(bb)) {
  register_module("backbone", backbone);
  head = register_module("head", torch::nn::Linear(backbone->feature_dim(), num_classes));
}

torch::Tensor ClassifierImpl::forward(const torch::Tensor& images) {
  return head->forward(backbone->forward(images));
}

namespace {

// A ViT preset (harness/vit.h): it fixes its own image size and channels, whatever the stream's
// input shape; other inputs are resized in forward.
BackboneEntry vit_entry(const std::string& name) {
  for (const auto& p : vit_presets()) {
    if (p.name == name) {
      return {name, p.description,
              [name](const std::vector<int64_t>&) -> std::shared_ptr<BackboneImpl> {
                return Vit(vit_preset(name)).ptr();
              }};
    }
  }
  throw Error("unknown ViT preset '" + name + "'");
}

}  // namespace

const std::vector<BackboneEntry>& backbones() {
  static const std::vector<BackboneEntry> entries = {
      {"mlp", "2 x 400 ReLU MLP on flattened pixels",
       [](const std::vector<int64_t>& s) -> std::shared_ptr<BackboneImpl> {
         return Mlp(MlpOptions(s[0] * s[1] * s[2])).ptr();
       }},
      {"cnn", "2 conv (32, 64 ch) + maxpool stages, 256-d dense features",
       [](const std::vector<int64_t>& s) -> std::shared_ptr<BackboneImpl> {
         if (s[1] != s[2] || s[1] % 4 != 0) {
           throw Error("backbone 'cnn' needs square images with a side divisible by 4, got " +
                       std::to_string(s[1]) + "x" + std::to_string(s[2]));
         }
         return Cnn(CnnOptions(s[0], s[1])).ptr();
       }},
      vit_entry("vit-b16"),
      vit_entry("vit-s16"),
      vit_entry("vit-ti16"),
      vit_entry("vit-tiny28"),
      vit_entry("vit-small28"),
  };
  return entries;
}

std::vector<std::string> backbone_names() {
  std::vector<std::string> names;
  for (const auto& b : backbones()) names.push_back(b.name);
  return names;
}

Classifier make_classifier(const std::string& backbone, const std::vector<int64_t>& input_shape,
                           int64_t num_classes) {
  for (const auto& b : backbones()) {
    if (b.name == backbone) return Classifier(b.make(input_shape), num_classes);
  }
  std::string valid;
  for (const auto& n : backbone_names()) valid += (valid.empty() ? "" : ", ") + n;
  throw Error("unknown backbone '" + backbone + "'; valid: " + valid);
}

int64_t count_parameters(const std::vector<torch::Tensor>& params) {
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  return n;
}

void copy_weights(torch::nn::Module& to, const torch::nn::Module& from) {
  torch::NoGradGuard no_grad;
  auto dst = to.named_parameters(true);
  for (const auto& item : from.named_parameters(true)) dst[item.key()].copy_(item.value());
  auto dst_buffers = to.named_buffers(true);
  for (const auto& item : from.named_buffers(true)) dst_buffers[item.key()].copy_(item.value());
}

}  // namespace clbench
