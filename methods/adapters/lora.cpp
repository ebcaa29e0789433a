#include "methods/adapters/lora.h"

#include <cmath>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/text.h"

namespace clbench {

LoraNorm parse_lora_norm(const std::string& value, const std::string& key) {
  if (value == "none") return LoraNorm::kNone;
  if (value == "factors") return LoraNorm::kFactorNorms;
  if (value == "product") return LoraNorm::kProduct;
  throw Error("invalid value '" + value + "' for " + key + "; valid: none, factors, product");
}

int64_t LowRankUpdate::numel() const {
  int64_t n = 0;
  for (const auto& f : factors) n += f.numel();
  return n;
}

torch::Tensor LowRankUpdate::right() const {
  auto r = factors[1];
  for (size_t i = 2; i < factors.size(); ++i) r = r.matmul(factors[i]);
  return r;
}

torch::Tensor LowRankUpdate::scale() const {
  torch::Tensor s;
  if (magnitude.defined())
    s = assimilated.defined() ? magnitude + assimilated : magnitude;
  else if (assimilated.defined())
    s = 1.0 + assimilated;
  if (inv_norm.defined()) s = s.defined() ? s * inv_norm : inv_norm;
  return s;
}

torch::Tensor LowRankUpdate::direction() const {
  auto d = left().matmul(right());
  return inv_norm.defined() ? d * inv_norm : d;
}

torch::Tensor LowRankUpdate::delta() const {
  auto d = left().matmul(right());
  const auto s = scale();
  return s.defined() ? d * s : d;
}

void LowRankUpdate::set_trainable(bool trainable) {
  for (auto& f : factors) {
    f.requires_grad_(trainable);
    if (!trainable) f.mutable_grad() = torch::Tensor();  // a frozen factor keeps no stale gradient
  }
}

void LowRankUpdate::freeze(LoraNorm norm) {
  set_trainable(false);
  if (norm == LoraNorm::kNone || inv_norm.defined()) return;
  torch::NoGradGuard no_grad;
  torch::Tensor n;
  if (norm == LoraNorm::kFactorNorms) {
    n = torch::ones({1}, left().options());
    for (const auto& f : factors) n = n * f.norm();
  } else {
    n = left().matmul(right()).norm().reshape({1});
  }
  // A zero direction (B never trained) has no direction to normalise: it stays zero, as the
  // official code skips it.
  inv_norm = torch::where(n > 0, 1.0 / n, torch::zeros_like(n));
}

LowRankUpdate make_lora_update(int64_t out, int64_t in, int64_t rank, at::Generator& gen) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  LowRankUpdate u;
  u.factors = {torch::zeros({out, rank}), torch::empty({rank, in}).uniform_(-bound, bound, gen)};
  u.set_trainable(true);
  return u;
}

LoraLinear::LoraLinear(torch::Tensor weight, torch::Tensor bias)
    : weight_(std::move(weight)), bias_(std::move(bias)) {}

torch::Tensor LoraLinear::delta_output(const torch::Tensor& x) const {
  if (merged()) return {};
  // All updates at once: x [R_1; ...; R_k]^T gives the rank-space activations, [s_1 L_1 ... s_k
  // L_k] maps them back, so k updates cost two matmuls.
  std::vector<torch::Tensor> rights, lefts;
  for (const auto& u : updates) {
    if (u.dropped) continue;
    rights.push_back(u.right());
    const auto s = u.scale();
    lefts.push_back(s.defined() ? u.left() * s : u.left());
  }
  if (rights.empty()) return {};
  const auto r = rights.size() == 1 ? rights[0] : torch::cat(rights, 0);
  const auto l = lefts.size() == 1 ? lefts[0] : torch::cat(lefts, 1);
  return torch::linear(torch::linear(x, r), l);
}

torch::Tensor LoraLinear::forward(const torch::Tensor& x) const {
  auto y = torch::linear(x, weight_, bias_);
  const auto d = delta_output(x);
  return d.defined() ? y + d : y;
}

torch::Tensor LoraLinear::delta_weight() const {
  auto w = torch::zeros_like(weight_);
  for (const auto& u : updates) {
    if (!u.dropped) w = w + u.delta();
  }
  return w;
}

void LoraLinear::merge() {
  if (merged()) return;
  torch::NoGradGuard no_grad;
  merged_ = delta_weight().detach();
  weight_.add_(merged_);
}

void LoraLinear::unmerge() {
  if (!merged()) return;
  torch::NoGradGuard no_grad;
  weight_.sub_(merged_);
  merged_ = torch::Tensor();
}

bool assimilate_last_update(LoraLinear& linear, LoraNorm norm, double tau) {
  torch::NoGradGuard no_grad;
  auto& updates = linear.updates;
  if (updates.size() < 2 || updates.back().dropped) return false;
  auto last = updates.back();
  last.inv_norm = torch::Tensor();
  last.freeze(norm);
  // On the CPU in float64: gelsd (SVD, safe when earlier directions are dependent) has no CUDA
  // kernel, and the system is small ({out*in, k}, k < tasks).
  const auto y = last.direction().flatten().to(torch::kCPU, torch::kDouble);
  std::vector<LowRankUpdate*> earlier;
  std::vector<torch::Tensor> columns;
  for (size_t k = 0; k + 1 < updates.size(); ++k) {
    auto& u = updates[k];
    if (u.dropped) continue;
    const auto d = u.direction().flatten().to(torch::kCPU, torch::kDouble);
    if (d.abs().max().item<double>() == 0.0) continue;  // a zero direction cannot explain anything
    earlier.push_back(&u);
    columns.push_back(d);
  }
  if (earlier.empty()) return false;
  const auto X = torch::stack(columns, 1);  // {out*in, k}
  const auto c = std::get<0>(torch::linalg_lstsq(X, y.unsqueeze(1), c10::nullopt, "gelsd"));
  const double residual = (y.unsqueeze(1) - X.matmul(c)).pow(2).sum().item<double>();
  if (!(residual < tau)) return false;
  for (size_t j = 0; j < earlier.size(); ++j) {
    auto& u = *earlier[j];
    const auto coef =
        c[static_cast<int64_t>(j)].to(u.left().device(), u.left().scalar_type()).reshape({1});
    u.assimilated = u.assimilated.defined() ? u.assimilated + coef : coef;
  }
  auto& dropped = updates.back();
  for (auto& f : dropped.factors) f.detach().zero_();
  dropped.set_trainable(false);
  dropped.dropped = true;
  return true;
}

ListOf qkv_parts_spec() {
  return words({"q", "k", "v"}).distinct().at_least(1);
}

std::vector<QkvPart> qkv_parts(const std::vector<std::string>& names) {
  std::vector<QkvPart> parts;
  for (const auto& name : names) {
    parts.push_back(name == "q" ? QkvPart::kQ : name == "k" ? QkvPart::kK : QkvPart::kV);
  }
  return parts;
}

std::string qkv_part_name(QkvPart part) {
  return part == QkvPart::kQ ? "q" : part == QkvPart::kK ? "k" : "v";
}

QkvLora::QkvLora(VitAttentionImpl& attention, std::vector<QkvPart> parts)
    : parts_(std::move(parts)), linears_(3), dim_(attention.dim) {
  for (auto p : parts_) {
    linears_[static_cast<size_t>(p)].emplace(attention.qkv_weight(p), attention.qkv_bias(p));
  }
}

LoraLinear& QkvLora::part(QkvPart p) {
  auto& l = linears_[static_cast<size_t>(p)];
  if (!l) throw Error("no adapter on " + qkv_part_name(p) + " of this block");
  return *l;
}

std::vector<LoraLinear*> QkvLora::linears() {
  std::vector<LoraLinear*> out;
  for (auto p : parts_) out.push_back(&part(p));
  return out;
}

torch::Tensor QkvLora::adapt(const torch::Tensor& x, const torch::Tensor& qkv) {
  if (recording_) {
    torch::NoGradGuard no_grad;
    const auto flat = x.detach().reshape({-1, x.size(-1)}).to(torch::kDouble);
    moment_ = moment_.defined() ? moment_ + flat.t().matmul(flat) : flat.t().matmul(flat);
    tokens_ += flat.size(0);
  }
  // The updates are added to the frozen projection's output in place: the projection's backward
  // needs only its input and weight, so its output is free to overwrite (no copy of qkv).
  auto out = qkv;
  for (auto p : parts_) {
    const auto d = part(p).delta_output(x);
    if (d.defined()) out.narrow(-1, static_cast<int64_t>(p) * dim_, dim_).add_(d);
  }
  return out;
}

void QkvLora::merge() {
  for (auto* l : linears()) l->merge();
}

void QkvLora::unmerge() {
  for (auto* l : linears()) l->unmerge();
}

void QkvLora::start_recording() {
  recording_ = true;
  moment_ = torch::Tensor();
  tokens_ = 0;
}

std::pair<torch::Tensor, int64_t> QkvLora::stop_recording() {
  recording_ = false;
  auto m = moment_.defined() ? moment_ : torch::zeros({dim_, dim_}, torch::kDouble);
  moment_ = torch::Tensor();
  return {m, tokens_};
}

std::shared_ptr<LoraHooks> install_lora_hooks(VitImpl& vit, const std::vector<QkvPart>& parts) {
  auto hooks = std::make_shared<LoraHooks>();
  for (size_t i = 0; i < vit.depth(); ++i)
    hooks->layers.push_back(std::make_shared<QkvLora>(*vit.block(i).attn, parts));
  vit.hooks = hooks;
  return hooks;
}

std::vector<std::shared_ptr<QkvLora>> install_qkv_lora(VitImpl& vit,
                                                       const std::vector<QkvPart>& parts) {
  return install_lora_hooks(vit, parts)->layers;
}

}  // namespace clbench
