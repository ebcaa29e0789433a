#pragma once
// Vision Transformer backbone (Dosovitskiy et al. 2021), laid out exactly like timm's
// VisionTransformer with num_classes=0: the features are the final-norm CLS token (pre-logits).
// Module and parameter names are timm's, so a timm state_dict (minus the head) loads by name.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "harness/models/backbone.h"

namespace clbench {

struct VitOptions {
  TORCH_ARG(int64_t, image_size) = 224;
  TORCH_ARG(int64_t, patch_size) = 16;
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, dim) = 768;
  TORCH_ARG(int64_t, depth) = 12;
  TORCH_ARG(int64_t, heads) = 12;
  TORCH_ARG(double, mlp_ratio) = 4.0;
  TORCH_ARG(bool, qkv_bias) = true;
  TORCH_ARG(double, eps) = 1e-6;  // LayerNorm epsilon (timm: partial(nn.LayerNorm, eps=1e-6))

 public:
  int64_t grid_size() const { return image_size() / patch_size(); }
  int64_t num_patches() const { return grid_size() * grid_size(); }
  // timm: int(dim * mlp_ratio).
  int64_t mlp_hidden() const {
    return static_cast<int64_t>(static_cast<double>(dim()) * mlp_ratio());
  }
};

// Named presets: vit-b16 (= timm vit_base_patch16_224), vit-s16, vit-ti16 at 224 px, and the
// CPU-sized vit-tiny28 / vit-small28 for 28x28 grey images. Unknown name: clbench::Error.
VitOptions vit_preset(const std::string& name);
struct VitPreset {
  std::string name, description;
};
const std::vector<VitPreset>& vit_presets();

// Which slice of the fused qkv projection: rows [0,D) are q, [D,2D) k, [2D,3D) v (timm layout).
enum class QkvPart : int64_t { kQ = 0, kK = 1, kV = 2 };

// One block's prefix (prefix-tuning, Li & Liang 2021, as DualPrompt and CODA-Prompt use it): keys
// and values {B, P, D} (or {P, D}, the same for every sample) prepended to the block's keys and
// values after the qkv projection. The queries are not extended, so the block's output keeps its
// input's sequence length.
struct KeyValuePrefix {
  torch::Tensor keys, values;
  bool defined() const { return keys.defined(); }
};

// What a method changes in the ViT's forward, one object for all of it: tokens at the input
// (prompt-tuning: L2P, FM-LoRA's meta-prompts), per-block key/value prefixes (prefix-tuning:
// DualPrompt, CODA-Prompt), the fused qkv projection (LoRA, SD-LoRA, InfLoRA...) and the MLP
// branch (AdaptFormer's parallel adapters, mixtures of adapter experts), without replacing the
// pretrained modules, so parameter names stay timm's. The ViT registers none
// of the hooks' tensors: the method owns and trains them.
struct VitHooks {
  virtual ~VitHooks() = default;
  // Tokens {P, D} or {B, P, D} inserted right after the class token, after the position
  // embedding. Undefined: none.
  virtual torch::Tensor input_tokens(int64_t /*batch*/) { return {}; }
  // Block `block`'s prefix for a batch of `batch` samples. Undefined: none.
  virtual KeyValuePrefix prefix(size_t /*block*/, int64_t /*batch*/) { return {}; }
  // Block `block`'s qkv projection: `x` is the attention input {B, N, D}, `qkv` the frozen
  // projection's output {B, N, 3D} laid out [q | k | v]; the result replaces it.
  virtual torch::Tensor qkv(size_t /*block*/, const torch::Tensor& /*x*/,
                            const torch::Tensor& qkv) {
    return qkv;
  }
  // Block `block`'s MLP branch: `x` is the stream after attention {B, N, D} (the MLP's input
  // before norm2), `mlp` the frozen MLP's output; the result replaces `mlp` in x + mlp.
  virtual torch::Tensor mlp(size_t /*block*/, const torch::Tensor& /*x*/,
                            const torch::Tensor& mlp) {
    return mlp;
  }
};

// timm Attention: fused qkv Linear, per-head scaled dot-product attention (the fused SDPA kernel),
// output projection; with a prefix, its keys and values come first.
struct VitAttentionImpl : torch::nn::Module {
  VitAttentionImpl(int64_t dim, int64_t heads, bool qkv_bias);
  // With `hooks`, as block number `block` of the ViT.
  torch::Tensor forward(const torch::Tensor& x, VitHooks* hooks = nullptr, size_t block = 0);
  // q, k, v and the qkv bias as they enter attention (after the hooks' qkv): {B, N, 3D}.
  torch::Tensor project_qkv(const torch::Tensor& x, VitHooks* hooks = nullptr, size_t block = 0);
  // View of the q, k or v rows of qkv.weight {D, D} (or of qkv.bias {D}); writes go through.
  torch::Tensor qkv_weight(QkvPart part) const;
  torch::Tensor qkv_bias(QkvPart part) const;

  int64_t dim, heads;
  torch::nn::Linear qkv{nullptr}, proj{nullptr};
};
TORCH_MODULE(VitAttention);

// timm Mlp: fc1 -> GELU (exact, erf) -> fc2.
struct VitMlpImpl : torch::nn::Module {
  VitMlpImpl(int64_t dim, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::GELU act{nullptr};
};
TORCH_MODULE(VitMlp);

// timm Block (pre-norm): x + attn(norm1(x)), then x + mlp(norm2(x)) (the hooks' MLP branch).
struct VitBlockImpl : torch::nn::Module {
  explicit VitBlockImpl(const VitOptions& options);
  torch::Tensor forward(const torch::Tensor& x, VitHooks* hooks = nullptr, size_t block = 0);
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  VitAttention attn{nullptr};
  VitMlp mlp{nullptr};
};
TORCH_MODULE(VitBlock);

// timm PatchEmbed: a Conv2d with kernel = stride = patch size, flattened to tokens.
struct VitPatchEmbedImpl : torch::nn::Module {
  VitPatchEmbedImpl(int64_t in_channels, int64_t dim, int64_t patch_size);
  torch::Tensor forward(const torch::Tensor& images);  // {B, C, H, W} -> {B, N, D}
  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(VitPatchEmbed);

struct VitImpl : BackboneImpl {
  explicit VitImpl(const VitOptions& options = {});
  // images {B, C, H, W} in [0, 1] -> CLS features {B, dim}. Images of another size are resized
  // (bilinear) to image_size; grey images are repeated to 3 channels for an RGB model, RGB images
  // are converted to grey (ITU-R 601 luma) for a 1-channel model.
  torch::Tensor forward(const torch::Tensor& images) override;
  // Every token after the final norm {B, 1 + P + N, D}: the class token, the hooks' input tokens
  // (P of them), the patches. forward() is its class token.
  torch::Tensor tokens(const torch::Tensor& images);
  // The query of the prompt methods (L2P, Sec. 4.2): the same forward without the hooks and
  // without gradients, the frozen, prompt-free backbone's final-norm CLS feature {B, dim}.
  torch::Tensor query(const torch::Tensor& images);
  int64_t feature_dim() const override { return options.dim(); }
  // The model's input: {B, in_channels, image_size, image_size}.
  torch::Tensor prepare(const torch::Tensor& images) const;
  VitBlockImpl& block(size_t i) { return *blocks[i]->as<VitBlockImpl>(); }
  size_t depth() const { return blocks->size(); }

  VitOptions options;
  torch::Tensor cls_token, pos_embed;
  std::shared_ptr<VitHooks> hooks;  // null: the plain ViT
  VitPatchEmbed patch_embed{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(Vit);

// timm's trunc_normal_: normal(mean, std) truncated to [a, b] by inverse-CDF sampling.
void trunc_normal_(const torch::Tensor& tensor, double mean, double std, double a, double b);

}  // namespace clbench
