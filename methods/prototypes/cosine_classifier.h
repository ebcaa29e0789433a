#pragma once
// What SimpleCIL, APER and EASE share (LAMDA-CL/LAMDA-PILOT backbone/linears.py CosineLinear,
// utils/inc_net.py; sun-hailong/CVPR24-Ease): a cosine classifier, logits = sigma * <f / |f|, w_c /
// |w_c|> (sigma learnable, initially 1), whose rows are set to class prototypes, the mean feature
// of each class's un-augmented training images.
#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <nlohmann/json.hpp>

#include "datasets/task_stream.h"
#include "methods/services.h"

namespace clbench {

struct CosineClassifierImpl : torch::nn::Module {
  // Rows drawn U(-1/sqrt(dim), 1/sqrt(dim)) from `gen` (CosineLinear.reset_parameters); sigma 1.
  CosineClassifierImpl(int64_t classes, int64_t dim, at::Generator& gen);
  // features {B, dim} -> {B, classes}; F.normalize's eps (1e-12), so a zero row scores 0.
  torch::Tensor forward(const torch::Tensor& features);
  torch::Tensor weight, sigma;  // {classes, dim}, {1}
};
TORCH_MODULE(CosineClassifier);

// The mean of `features` (a batch -> {B, dim}, evaluated without gradients) over each class of
// `task`'s training samples, not augmented, on every rank alike: {task classes, dim}, row k for
// class task.class_begin + k (an Error names a class without a sample).
torch::Tensor task_class_means(MethodServices& services, const Task& task, int64_t dim,
                               const std::function<torch::Tensor(const Batch&)>& features);

// The training settings of a LAMDA-PILOT-style config (SimpleCIL, APER and EASE share its
// trainer): SGD with momentum 0.9 and a cosine to 0 over the epochs (min_lr 0).
nlohmann::json pilot_sgd_setting(int64_t epochs, double lr, int64_t batch, double weight_decay);

}  // namespace clbench
