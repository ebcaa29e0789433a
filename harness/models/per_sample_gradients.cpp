#include "harness/models/per_sample_gradients.h"

#include <algorithm>
#include <map>
#include <string>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/models/batch_norm.h"

namespace clbench {
namespace {

torch::Tensor raised(const torch::Tensor& t, int power) {
  return power == 2 ? t.square() : power == 1 ? t.abs() : t.abs().pow(power);
}

// A layer whose per-sample gradients have a rule: its input and output in the batched pass.
struct Recorded {
  std::shared_ptr<torch::nn::Module> layer;
  torch::Tensor input, output;
};

bool has_rule(const std::shared_ptr<torch::nn::Module>& m) {
  if (std::dynamic_pointer_cast<torch::nn::LinearImpl>(m)) return true;
  auto conv = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(m);
  return conv && conv->options.groups() == 1 &&
         std::holds_alternative<torch::ExpandingArray<2>>(conv->options.padding()) &&
         conv->options.padding_mode().index() == 0;  // zeros
}

// Sum over the samples of |per-sample gradient|^power of one recorded layer's weight and bias.
std::pair<torch::Tensor, torch::Tensor> layer_sums(const Recorded& r, const torch::Tensor& g,
                                                   int power) {
  const int64_t B = g.size(0);
  if (auto linear = std::dynamic_pointer_cast<torch::nn::LinearImpl>(r.layer)) {
    torch::Tensor weight, bias;
    if (r.input.dim() == 2) {  // one vector per sample: |g_i a_i^T|^p = |g_i|^p |a_i|^p^T
      weight = raised(g, power).t().matmul(raised(r.input, power));
      bias = raised(g, power).sum(0);
    } else {  // a sequence per sample: the gradient sums over its positions
      const auto a = r.input.reshape({B, -1, r.input.size(-1)});
      const auto gs = g.reshape({B, -1, g.size(-1)});
      weight = raised(gs.transpose(1, 2).bmm(a), power).sum(0);
      bias = raised(gs.sum(1), power).sum(0);
    }
    return {weight, linear->options.bias() ? bias : torch::Tensor()};
  }
  auto conv = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(r.layer);
  const auto& o = conv->options;
  const auto padding = std::get<torch::ExpandingArray<2>>(o.padding());
  namespace F = torch::nn::functional;
  const auto unfolded = F::unfold(r.input, F::UnfoldFuncOptions(o.kernel_size())
                                               .dilation(o.dilation())
                                               .padding(padding)
                                               .stride(o.stride()));  // {B, C kh kw, L}
  const auto gs = g.reshape({B, g.size(1), -1});                      // {B, out, L}
  const auto per_sample = gs.bmm(unfolded.transpose(1, 2));           // {B, out, C kh kw}
  const auto weight = raised(per_sample, power).sum(0).reshape(conv->weight.sizes());
  const auto bias = raised(gs.sum(2), power).sum(0);
  return {weight, o.bias() ? bias : torch::Tensor()};
}

// Which layer of the batched pass (the backbone's layers with a rule in forward order, then the
// head), and whether as its bias, holds each parameter.
using ParameterLayers = std::map<const void*, std::pair<size_t, bool>>;

ParameterLayers parameter_layers(const std::vector<std::shared_ptr<torch::nn::Module>>& layers) {
  ParameterLayers covered;
  for (size_t k = 0; k < layers.size(); ++k) {
    for (const auto& item : layers[k]->named_parameters(false)) {
      covered[item.value().unsafeGetTensorImpl()] = {k, item.key() == "bias"};
    }
  }
  return covered;
}

// The batched pass: every layer with a rule, its input and output, and which layer (and whether
// as its bias) each of `params` belongs to; empty when some parameter has no rule.
struct RecordedPass {
  std::vector<Recorded> layers;
  std::vector<std::pair<size_t, bool>> of_param;  // (layer, is bias) for each of params
  std::vector<torch::Tensor> output_grads;        // d sum_i objective_i / d output, per layer
};

RecordedPass record_pass(ClassifierImpl& model, const torch::Tensor& x, const torch::Tensor& y,
                         const SampleObjective& objective,
                         const std::vector<torch::Tensor>& params) {
  auto* layers = model.backbone->layers();
  if (layers == nullptr) return {};
  std::vector<Recorded> recorded;
  auto h = model.backbone->layers_input(x);
  for (auto& any : **layers) {
    auto m = any.ptr();
    if (has_rule(m)) {
      recorded.push_back({m, h, any.forward(h)});
      h = recorded.back().output;
    } else {
      h = any.forward(h);
    }
  }
  recorded.push_back({model.head.ptr(), h, model.head->forward(h)});

  std::vector<std::shared_ptr<torch::nn::Module>> rule_layers;
  for (const auto& r : recorded) rule_layers.push_back(r.layer);
  const ParameterLayers covered = parameter_layers(rule_layers);
  RecordedPass pass;
  for (const auto& p : params) {
    const auto found = covered.find(p.unsafeGetTensorImpl());
    if (found == covered.end()) return {};
    pass.of_param.push_back(found->second);
  }
  const auto per_sample = objective(recorded.back().output, y);
  std::vector<torch::Tensor> outputs;
  for (const auto& r : recorded) outputs.push_back(r.output);
  pass.output_grads = torch::autograd::grad({per_sample.sum()}, outputs, {}, false, false, true);
  pass.layers = std::move(recorded);
  return pass;
}

// The batched pass; empty when some parameter of `params` has no rule.
std::vector<torch::Tensor> by_rules(ClassifierImpl& model, const torch::Tensor& x,
                                    const torch::Tensor& y, const SampleObjective& objective,
                                    const std::vector<torch::Tensor>& params, int power) {
  const auto pass = record_pass(model, x, y, objective, params);
  if (pass.layers.empty()) return {};
  std::vector<std::pair<torch::Tensor, torch::Tensor>> sums(pass.layers.size());
  std::vector<torch::Tensor> result;
  for (size_t i = 0; i < params.size(); ++i) {
    const auto [k, is_bias] = pass.of_param[i];
    const auto& g = pass.output_grads[k];
    if (!g.defined()) {
      result.push_back(torch::zeros_like(params[i]));
      continue;
    }
    if (!sums[k].first.defined()) sums[k] = layer_sums(pass.layers[k], g.detach(), power);
    result.push_back((is_bias ? sums[k].second : sums[k].first).detach());
  }
  return result;
}

// Sum over the samples `rows` of one recorded layer's per-sample weight and bias gradients (a run
// of consecutive rows is a view, no copy).
std::pair<torch::Tensor, torch::Tensor> layer_group_sums(const Recorded& r, const torch::Tensor& g,
                                                         const torch::Tensor& rows) {
  const auto first = rows[0].item<int64_t>(), n = rows.numel();
  const bool consecutive = rows[n - 1].item<int64_t>() - first == n - 1;
  const auto pick = [&](const torch::Tensor& t) {
    return consecutive ? t.narrow(0, first, n) : t.index_select(0, rows.to(t.device()));
  };
  const auto gk = pick(g), ak = pick(r.input);
  if (auto linear = std::dynamic_pointer_cast<torch::nn::LinearImpl>(r.layer)) {
    const auto g2 = gk.reshape({-1, gk.size(-1)}), a2 = ak.reshape({-1, ak.size(-1)});
    return {g2.t().matmul(a2), linear->options.bias() ? g2.sum(0) : torch::Tensor()};
  }
  auto conv = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(r.layer);
  const auto& o = conv->options;
  namespace F = torch::nn::functional;
  const auto unfolded = F::unfold(ak, F::UnfoldFuncOptions(o.kernel_size())
                                          .dilation(o.dilation())
                                          .padding(std::get<torch::ExpandingArray<2>>(o.padding()))
                                          .stride(o.stride()));  // {n, C kh kw, L}
  const auto gs = gk.reshape({gk.size(0), gk.size(1), -1});      // {n, out, L}
  const auto weight = gs.permute({1, 0, 2})
                          .reshape({gs.size(1), -1})
                          .matmul(unfolded.permute({0, 2, 1}).reshape({-1, unfolded.size(1)}));
  return {weight.reshape(conv->weight.sizes()),
          o.bias() ? gs.sum(std::vector<int64_t>{0, 2}) : torch::Tensor()};
}

// One backward pass per sample.
std::vector<torch::Tensor> by_samples(ClassifierImpl& model, const torch::Tensor& x,
                                      const torch::Tensor& y, const SampleObjective& objective,
                                      const std::vector<torch::Tensor>& params, int power) {
  std::vector<torch::Tensor> sums;
  for (const auto& p : params) sums.push_back(torch::zeros_like(p));
  for (int64_t i = 0; i < x.size(0); ++i) {
    const auto value = objective(model.forward(x.narrow(0, i, 1)), y.narrow(0, i, 1)).sum();
    const auto grads = torch::autograd::grad({value}, params, {}, false, false, true);
    for (size_t k = 0; k < params.size(); ++k) {
      if (grads[k].defined()) sums[k].add_(raised(grads[k], power));
    }
  }
  return sums;
}

}  // namespace

bool has_sample_gradient_rules(ClassifierImpl& model, const std::vector<torch::Tensor>& params) {
  auto* layers = model.backbone->layers();
  if (layers == nullptr) return false;
  std::vector<std::shared_ptr<torch::nn::Module>> rule_layers;
  for (auto& any : **layers) {
    if (has_rule(any.ptr())) rule_layers.push_back(any.ptr());
  }
  if (has_rule(model.head.ptr())) rule_layers.push_back(model.head.ptr());
  const ParameterLayers covered = parameter_layers(rule_layers);
  if (has_batch_norm(model)) return false;  // samples interact
  for (const auto& m : model.modules()) {
    if (m->name().find("Dropout") != std::string::npos) return false;  // train and eval differ
  }
  return std::all_of(params.begin(), params.end(), [&](const torch::Tensor& p) {
    return covered.count(p.unsafeGetTensorImpl());
  });
}

std::vector<std::vector<torch::Tensor>> group_gradient_sums(
    ClassifierImpl& model, const torch::Tensor& x, const torch::Tensor& y,
    const SampleObjective& objective, const std::vector<torch::Tensor>& params,
    const torch::Tensor& group, int64_t groups) {
  std::vector<std::vector<torch::Tensor>> result(static_cast<size_t>(groups));
  if (x.size(0) == 0) {
    for (auto& sums : result) {
      for (const auto& p : params) sums.push_back(torch::zeros_like(p));
    }
    return result;
  }
  const auto pass = record_pass(model, x, y, objective, params);
  if (pass.layers.empty()) throw Error("internal: group_gradient_sums on a model without rules");
  const auto on_host = group.to(torch::kCPU);
  for (int64_t k = 0; k < groups; ++k) {
    const auto rows = on_host.eq(k).nonzero().squeeze(1);  // increasing
    std::vector<std::pair<torch::Tensor, torch::Tensor>> sums(pass.layers.size());
    for (size_t i = 0; i < params.size(); ++i) {
      const auto [l, is_bias] = pass.of_param[i];
      const auto& g = pass.output_grads[l];
      if (!g.defined() || rows.numel() == 0) {
        result[k].push_back(torch::zeros_like(params[i]));
        continue;
      }
      if (!sums[l].first.defined()) sums[l] = layer_group_sums(pass.layers[l], g.detach(), rows);
      result[k].push_back((is_bias ? sums[l].second : sums[l].first).detach());
    }
  }
  return result;
}

std::vector<torch::Tensor> sum_of_sample_gradient_powers(
    ClassifierImpl& model, const torch::Tensor& x, const torch::Tensor& y,
    const SampleObjective& objective, const std::vector<torch::Tensor>& params, int power) {
  if (power < 1) throw Error("internal: per-sample gradient power must be >= 1");
  auto sums = by_rules(model, x, y, objective, params, power);
  return sums.empty() && !params.empty() ? by_samples(model, x, y, objective, params, power) : sums;
}

}  // namespace clbench
