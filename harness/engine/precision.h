#pragma once
// The numeric precision of a run (key `precision`):
//   fp32  FP32 everywhere (the papers' and PyTorch's default);
//   tf32  FP32 storage, GPU matrix products and convolutions in TF32 (10-bit mantissa);
//   bf16  autocast of the forward and the loss to bfloat16 (torch.autocast), over FP32 master
//         weights, gradients and optimizer state; on the CPU too;
//   fp16  the same in float16, with a gradient scaler (torch.amp.GradScaler) against underflow.
#include <cstdint>
#include <string>
#include <vector>

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>
#include <torch/types.h>

namespace clbench {

enum class Precision { kFp32, kTf32, kBf16, kFp16 };

const std::vector<std::string>& precision_names();       // fp32, tf32, bf16, fp16
Precision precision_from_name(const std::string& name);  // unknown: an Error naming the key
std::string precision_name(Precision p);

// Process-wide: TF32 matrix products and convolutions on GPUs for tf32, FP32 otherwise.
void apply_matmul_precision(Precision p);

// While alive, ops on `device` run under autocast to bf16/fp16 (nothing for fp32 and tf32);
// restores the previous autocast state, and drops autocast's weight cache, when it ends.
class AutocastScope {
 public:
  AutocastScope(Precision p, c10::DeviceType device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType device_;
  bool was_enabled_ = false;
  c10::ScalarType was_dtype_ = c10::ScalarType::Undefined;
};

// Dynamic loss scaling for fp16 (Micikevicius et al. 2018; torch.amp.GradScaler's defaults: scale
// 2^16, halved after a step whose gradients overflowed (that step is skipped), doubled after 2000
// steps without one). Disabled: scale() and unscale() are the identity.
class GradScaler {
 public:
  explicit GradScaler(bool enabled = false);
  bool enabled() const { return enabled_; }
  torch::Tensor scale(const torch::Tensor& loss);
  // Divides the gradients of `params` by the scale and returns whether all are finite (one value
  // read to the host: the one synchronisation of an fp16 step), then updates the scale.
  bool unscale_and_update(const std::vector<torch::Tensor>& params);
  double current_scale() const;
  int64_t growth_tracker() const;
  void restore(double scale, int64_t growth_tracker);  // from a checkpoint

  static constexpr double kInitialScale = 65536.0;
  static constexpr double kGrowth = 2.0, kBackoff = 0.5;
  static constexpr int64_t kGrowthInterval = 2000;

 private:
  void ensure_on(const torch::Device& device);
  bool enabled_ = false;
  double initial_scale_ = kInitialScale;
  int64_t initial_growth_ = 0;
  torch::Tensor scale_, growth_;  // float32 [1], int32 [1], on the gradients' device
};

}  // namespace clbench
