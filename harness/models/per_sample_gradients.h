#pragma once
// Sums over samples of powers of per-sample gradients, |d objective_i / d theta|^p, from one
// batched backward pass (the rules of BackPACK and Opacus): for a Linear layer with input a_i and
// output gradient g_i the gradient of sample i is g_i^T a_i, for a Conv2d it is g_i times the
// unfolded input. EWC's Fisher is p = 2; MAS's importance p = 1.
#include <functional>
#include <vector>

#include <torch/types.h>

#include "harness/models/backbone.h"

namespace clbench {

// One value per sample of the batch, from its logits and labels {B}.
using SampleObjective =
    std::function<torch::Tensor(const torch::Tensor& logits, const torch::Tensor& y)>;

// For each tensor of `params` (parameters of `model`), sum_i |d objective_i / d param|^power over
// the samples of `x`, `y`. The Linear and Conv2d (groups 1) layers of a backbone that exposes
// layers(), and the head, use the batched rules; when a parameter has no rule (a ViT, a LayerNorm)
// every sample gets its own backward pass instead. Samples must not interact in the forward pass
// (batch norm in eval mode). A parameter the objective does not reach gets zeros.
std::vector<torch::Tensor> sum_of_sample_gradient_powers(
    ClassifierImpl& model, const torch::Tensor& x, const torch::Tensor& y,
    const SampleObjective& objective, const std::vector<torch::Tensor>& params, int power);

// Whether every one of `params` has a batched rule, and the samples of `model` neither interact
// nor depend on train/eval mode (no batch norm, no dropout): group_gradient_sums applies.
bool has_sample_gradient_rules(ClassifierImpl& model, const std::vector<torch::Tensor>& params);

// For each group k < groups of the samples of `x` (group: {B} ids), the sum over its samples of
// d objective_i / d param for each of `params`, from one batched backward pass (GEM's per-task
// memory gradients); requires has_sample_gradient_rules. A batch of no samples gives zeros.
std::vector<std::vector<torch::Tensor>> group_gradient_sums(
    ClassifierImpl& model, const torch::Tensor& x, const torch::Tensor& y,
    const SampleObjective& objective, const std::vector<torch::Tensor>& params,
    const torch::Tensor& group, int64_t groups);

}  // namespace clbench
