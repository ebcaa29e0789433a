#include "harness/models/per_sample_gradients.h"

#include <map>

#include <torch/torch.h>

#include "harness/foundation/error.h"

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

// The batched pass; empty when some parameter of `params` has no rule.
std::vector<torch::Tensor> by_rules(ClassifierImpl& model, const torch::Tensor& x,
                                    const torch::Tensor& y, const SampleObjective& objective,
                                    const std::vector<torch::Tensor>& params, int power) {
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

  std::map<const void*, std::pair<size_t, bool>> covered;  // parameter data -> (layer, is bias)
  for (size_t k = 0; k < recorded.size(); ++k) {
    for (const auto& item : recorded[k].layer->named_parameters(false)) {
      covered[item.value().unsafeGetTensorImpl()] = {k, item.key() == "bias"};
    }
  }
  for (const auto& p : params) {
    if (!covered.count(p.unsafeGetTensorImpl())) return {};
  }
  const auto per_sample = objective(recorded.back().output, y);
  std::vector<torch::Tensor> outputs;
  for (const auto& r : recorded) outputs.push_back(r.output);
  const auto grads = torch::autograd::grad({per_sample.sum()}, outputs, {}, false, false, true);
  std::vector<std::pair<torch::Tensor, torch::Tensor>> sums(recorded.size());
  std::vector<torch::Tensor> result;
  for (const auto& p : params) {
    const auto [k, is_bias] = covered[p.unsafeGetTensorImpl()];
    if (!grads[k].defined()) {
      result.push_back(torch::zeros_like(p));
      continue;
    }
    if (!sums[k].first.defined()) sums[k] = layer_sums(recorded[k], grads[k].detach(), power);
    result.push_back((is_bias ? sums[k].second : sums[k].first).detach());
  }
  return result;
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

std::vector<torch::Tensor> sum_of_sample_gradient_powers(
    ClassifierImpl& model, const torch::Tensor& x, const torch::Tensor& y,
    const SampleObjective& objective, const std::vector<torch::Tensor>& params, int power) {
  if (power < 1) throw Error("internal: per-sample gradient power must be >= 1");
  auto sums = by_rules(model, x, y, objective, params, power);
  return sums.empty() && !params.empty() ? by_samples(model, x, y, objective, params, power) : sums;
}

}  // namespace clbench
