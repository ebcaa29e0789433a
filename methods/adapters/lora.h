#pragma once
// Low-rank adaptation of frozen linear maps (LoRA, Hu et al. 2022, Eq. 3: W = W0 + BA), the
// building block of the parameter-efficient methods (seq-lora, sd-lora, fm-lora, inflora).
//
// A LoraLinear carries a frozen base weight W0 (for the ViT: a view of the q, k or v rows of the
// fused qkv weight) and a list of low-rank updates. Each update is a chain of factors
// dW = F_0 F_1 ... F_{n-1} (LoRA: {B, A}; F-LoRA: {A_shared, M_t, N_t^T, B_shared^T}) times a
// scale: an optional learnable magnitude (which several updates may share), an optional fixed
// "assimilated" magnitude added to it (SD-LoRA-KD), and, once the update is frozen, an optional
// constant 1/norm that turns it into a unit direction (SD-LoRA).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include "harness/foundation/options.h"

#include "harness/models/vit.h"

namespace clbench {

// How a frozen direction is normalised: not at all, by the product of its factors' Frobenius
// norms (the official SD-LoRA code: ||B||_F ||A||_F), or by ||dW||_F (SD-LoRA paper, Eq. 4).
enum class LoraNorm { kNone, kFactorNorms, kProduct };
LoraNorm parse_lora_norm(const std::string& value, const std::string& key);

struct LowRankUpdate {
  std::vector<torch::Tensor> factors;  // dW = factors[0] * ... * factors.back(), out x in
  torch::Tensor magnitude;             // learnable scalar {1}; undefined: 1
  torch::Tensor assimilated;           // fixed scalar {1} added to the magnitude; undefined: 0
  torch::Tensor inv_norm;              // fixed scalar {1} set by freeze(); undefined: 1
  int64_t task = 0;                    // the task that created it
  bool dropped = false;                // a direction removed by SD-LoRA-KD: contributes nothing

  int64_t rank() const { return factors.front().size(1); }
  int64_t numel() const;  // numbers stored for the factors
  const torch::Tensor& left() const { return factors.front(); }
  torch::Tensor right() const;         // factors[1] * ... * factors.back(): rank x in
  torch::Tensor scale() const;         // (magnitude + assimilated) * inv_norm; undefined when 1
  torch::Tensor direction() const;     // the product times inv_norm (no magnitude)
  torch::Tensor delta() const;         // scale * direction, out x in
  void set_trainable(bool trainable);  // the factors' requires_grad (false: gradients dropped)
  // Stops training the factors; with a norm, the (now constant) norm is divided out for good.
  void freeze(LoraNorm norm);
};

// LoRA's factors: A {rank, in} kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)), and
// B {out, rank} zero, so the update starts at exactly zero (LoRA Sec. 4.1).
LowRankUpdate make_lora_update(int64_t out, int64_t in, int64_t rank, at::Generator& gen);

class LoraLinear;

// SD-LoRA-KD (SD-LoRA Sec. 3.4; LibContinual after_task): least-squares fit of the last update's
// direction (normalised by `norm`) on the earlier kept directions, flattened. If the squared
// residual is below `tau`, the coefficients are added to the earlier updates' assimilated
// magnitudes and the last update is dropped (its factors zeroed). Returns whether it was absorbed.
bool assimilate_last_update(LoraLinear& linear, LoraNorm norm, double tau);

class LoraLinear {
 public:
  LoraLinear() = default;
  explicit LoraLinear(torch::Tensor weight, torch::Tensor bias = {});

  // x W0^T + b + sum_k x dW_k^T (the updates are skipped once merged into W0).
  torch::Tensor forward(const torch::Tensor& x) const;
  // sum_k x dW_k^T through the factors (rank-sized intermediates, no dense dW); undefined if none.
  torch::Tensor delta_output(const torch::Tensor& x) const;
  torch::Tensor delta_weight() const;  // sum_k dW_k, out x in
  // W0 += sum_k dW_k (in place, through the view), and back. Unmerge subtracts what merge added.
  void merge();
  void unmerge();
  bool merged() const { return merged_.defined(); }

  int64_t in_features() const { return weight_.size(1); }
  int64_t out_features() const { return weight_.size(0); }
  const torch::Tensor& weight() const { return weight_; }

  std::vector<LowRankUpdate> updates;

 private:
  torch::Tensor weight_, bias_, merged_;
};

// The list spec of a "parts" key: some of q, k, v ("q,v"), each once.
ListOf qkv_parts_spec();
// The parts named by such a key's (checked) value.
std::vector<QkvPart> qkv_parts(const std::vector<std::string>& names);
std::string qkv_part_name(QkvPart part);

// Adapters on some of q, k, v of one attention block's fused qkv projection (LoraHooks calls
// it for its block). Optionally records the second moment of the projection's input
// (sum x^T x over tokens), which InfLoRA designs its A matrices from.
class QkvLora {
 public:
  QkvLora(VitAttentionImpl& attention, std::vector<QkvPart> parts);
  // The projection's output `qkv` {B, N, 3D} of input `x`, with the updates added.
  torch::Tensor adapt(const torch::Tensor& x, const torch::Tensor& qkv);

  const std::vector<QkvPart>& parts() const { return parts_; }
  LoraLinear& part(QkvPart p);
  std::vector<LoraLinear*> linears();
  void merge();
  void unmerge();

  void start_recording();
  // {sum x^T x (D x D, float64), token count}; recording stops.
  std::pair<torch::Tensor, int64_t> stop_recording();

 private:
  std::vector<QkvPart> parts_;
  std::vector<std::optional<LoraLinear>> linears_;  // indexed by QkvPart
  int64_t dim_;
  bool recording_ = false;
  torch::Tensor moment_;
  int64_t tokens_ = 0;
};

// The ViT hooks of the adapter methods: one QkvLora per block, in block order, and (FM-LoRA's
// meta-prompts) tokens at the input.
struct LoraHooks : VitHooks {
  std::vector<std::shared_ptr<QkvLora>> layers;
  torch::Tensor tokens;  // {P, D}; undefined: none
  torch::Tensor input_tokens(int64_t) override { return tokens; }
  torch::Tensor qkv(size_t block, const torch::Tensor& x, const torch::Tensor& qkv) override {
    return layers[block]->adapt(x, qkv);
  }
};

// Installs LoraHooks with one QkvLora per block of `vit` as the ViT's hooks (replacing any).
std::shared_ptr<LoraHooks> install_lora_hooks(VitImpl& vit, const std::vector<QkvPart>& parts);
// Their layers.
std::vector<std::shared_ptr<QkvLora>> install_qkv_lora(VitImpl& vit,
                                                       const std::vector<QkvPart>& parts);

}  // namespace clbench
