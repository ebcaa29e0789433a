#include "harness/engine/precision.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/text.h"

namespace clbench {

const std::vector<std::string>& precision_names() {
  static const std::vector<std::string> names = {"fp32", "tf32", "bf16", "fp16"};
  return names;
}

Precision precision_from_name(const std::string& name) {
  const auto& names = precision_names();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<Precision>(i);
  }
  throw Error(unknown_name("precision", name, names));
}

std::string precision_name(Precision p) {
  return precision_names()[static_cast<size_t>(p)];
}

void apply_matmul_precision(Precision p) {
  at::globalContext().setAllowTF32CuBLAS(p == Precision::kTf32);
  // cuDNN convolutions otherwise keep PyTorch's default.
  if (p == Precision::kTf32) at::globalContext().setAllowTF32CuDNN(true);
}

AutocastScope::AutocastScope(Precision p, c10::DeviceType device) : device_(device) {
  if (p != Precision::kBf16 && p != Precision::kFp16) return;
  active_ = true;
  was_enabled_ = at::autocast::is_autocast_enabled(device_);
  was_dtype_ = at::autocast::get_autocast_dtype(device_);
  at::autocast::set_autocast_enabled(device_, true);
  at::autocast::set_autocast_dtype(device_, p == Precision::kBf16 ? at::kBFloat16 : at::kHalf);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_, was_enabled_);
  at::autocast::set_autocast_dtype(device_, was_dtype_);
}

GradScaler::GradScaler(bool enabled) : enabled_(enabled) {}

void GradScaler::ensure_on(const torch::Device& device) {
  if (scale_.defined() && scale_.device() == device) return;
  if (scale_.defined()) {
    scale_ = scale_.to(device);
    growth_ = growth_.to(device);
    return;
  }
  const auto on = torch::TensorOptions().device(device);
  scale_ = torch::full({1}, initial_scale_, on.dtype(torch::kFloat32));
  growth_ = torch::full({1}, initial_growth_, on.dtype(torch::kInt32));
}

torch::Tensor GradScaler::scale(const torch::Tensor& loss) {
  if (!enabled_) return loss;
  ensure_on(loss.device());
  return loss * scale_;
}

bool GradScaler::unscale_and_update(const std::vector<torch::Tensor>& params) {
  if (!enabled_) return true;
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return true;
  ensure_on(grads.front().device());
  torch::NoGradGuard no_grad;
  auto found_inf = torch::zeros({1}, scale_.options());
  const auto inverse = scale_.to(torch::kFloat64).reciprocal().to(torch::kFloat32);
  at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf, inverse);
  at::_amp_update_scale_(scale_, growth_, found_inf, kGrowth, kBackoff, kGrowthInterval);
  return found_inf.item<float>() == 0.0f;
}

double GradScaler::current_scale() const {
  return scale_.defined() ? scale_.item<double>() : initial_scale_;
}

int64_t GradScaler::growth_tracker() const {
  return growth_.defined() ? growth_.item<int64_t>() : initial_growth_;
}

void GradScaler::restore(double scale, int64_t growth_tracker) {
  initial_scale_ = scale;
  initial_growth_ = growth_tracker;
  scale_ = growth_ = torch::Tensor();
}

}  // namespace clbench
