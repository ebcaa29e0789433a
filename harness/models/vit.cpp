#include "harness/models/vit.h"

#include <cmath>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/text.h"
#include "harness/models/backbones.h"
#include "harness/models/weights.h"

namespace clbench {
namespace {

// timm init_weights_vit_timm: Linear weights trunc_normal(std .02), biases zero.
torch::nn::Linear make_linear(int64_t in, int64_t out, bool bias) {
  torch::nn::Linear linear(torch::nn::LinearOptions(in, out).bias(bias));
  torch::NoGradGuard no_grad;
  trunc_normal_(linear->weight, 0.0, 0.02, -2.0, 2.0);
  if (bias) linear->bias.zero_();
  return linear;
}

torch::nn::LayerNorm make_norm(int64_t dim, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(eps));
}

struct PresetEntry {
  VitPreset preset;
  VitOptions options;
};

const std::vector<PresetEntry>& preset_table() {
  static const std::vector<PresetEntry> table = {
      {{"vit-b16", "ViT-B/16 at 224 px, 768-d, 12 blocks x 12 heads (timm vit_base_patch16_224)"},
       VitOptions().dim(768).depth(12).heads(12)},
      {{"vit-s16", "ViT-S/16 at 224 px, 384-d, 12 blocks x 6 heads (timm vit_small_patch16_224)"},
       VitOptions().dim(384).depth(12).heads(6)},
      {{"vit-ti16", "ViT-Ti/16 at 224 px, 192-d, 12 blocks x 3 heads (timm vit_tiny_patch16_224)"},
       VitOptions().dim(192).depth(12).heads(3)},
      {{"vit-tiny28", "small ViT for 28x28 grey images: patch 4, 64-d, 4 blocks x 4 heads"},
       VitOptions().image_size(28).patch_size(4).in_channels(1).dim(64).depth(4).heads(4).mlp_ratio(
           2.0)},
      {{"vit-small28", "small ViT for 28x28 grey images: patch 4, 128-d, 6 blocks x 4 heads"},
       VitOptions()
           .image_size(28)
           .patch_size(4)
           .in_channels(1)
           .dim(128)
           .depth(6)
           .heads(4)
           .mlp_ratio(2.0)},
  };
  return table;
}

void validate(const VitOptions& o) {
  auto fail = [&](const std::string& why) { throw Error("ViT options: " + why); };
  if (o.image_size() <= 0 || o.patch_size() <= 0 || o.in_channels() <= 0 || o.dim() <= 0 ||
      o.depth() < 0 || o.heads() <= 0 || !(o.mlp_ratio() > 0)) {
    fail("image_size, patch_size, in_channels, dim, heads and mlp_ratio must be positive");
  }
  if (o.image_size() % o.patch_size() != 0) {
    fail("image_size " + std::to_string(o.image_size()) + " is not a multiple of patch_size " +
         std::to_string(o.patch_size()));
  }
  if (o.dim() % o.heads() != 0) {
    fail("dim " + std::to_string(o.dim()) + " is not a multiple of heads " +
         std::to_string(o.heads()));
  }
}

}  // namespace

void trunc_normal_(const torch::Tensor& tensor, double mean, double std, double a, double b) {
  // Same method as torch.nn.init.trunc_normal_ (used by timm): inverse CDF of a uniform draw.
  torch::NoGradGuard no_grad;
  auto cdf = [](double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; };
  const double l = cdf((a - mean) / std), u = cdf((b - mean) / std);
  tensor.uniform_(2 * l - 1, 2 * u - 1);
  tensor.erfinv_();
  tensor.mul_(std * std::sqrt(2.0)).add_(mean);
  tensor.clamp_(a, b);
}

VitOptions vit_preset(const std::string& name) {
  for (const auto& e : preset_table()) {
    if (e.preset.name == name) return e.options;
  }
  std::vector<std::string> valid;
  for (const auto& e : preset_table()) valid.push_back(e.preset.name);
  throw Error(unknown_name("ViT preset", name, valid));
}

const std::vector<VitPreset>& vit_presets() {
  static const std::vector<VitPreset> presets = [] {
    std::vector<VitPreset> p;
    for (const auto& e : preset_table()) p.push_back(e.preset);
    return p;
  }();
  return presets;
}

VitAttentionImpl::VitAttentionImpl(int64_t dim_, int64_t heads_, bool qkv_bias)
    : dim(dim_), heads(heads_) {
  qkv = register_module("qkv", make_linear(dim, 3 * dim, qkv_bias));
  proj = register_module("proj", make_linear(dim, dim, true));
}

torch::Tensor VitAttentionImpl::project_qkv(const torch::Tensor& x, VitHooks* hooks, size_t block) {
  auto out = qkv->forward(x);
  return hooks ? hooks->qkv(block, x, out) : out;
}

torch::Tensor VitAttentionImpl::qkv_weight(QkvPart part) const {
  return qkv->weight.narrow(0, static_cast<int64_t>(part) * dim, dim);
}

torch::Tensor VitAttentionImpl::qkv_bias(QkvPart part) const {
  if (!qkv->bias.defined()) return {};
  return qkv->bias.narrow(0, static_cast<int64_t>(part) * dim, dim);
}

torch::Tensor VitAttentionImpl::forward(const torch::Tensor& x, VitHooks* hooks, size_t block) {
  const int64_t B = x.size(0), N = x.size(1);
  // timm: qkv(x).reshape(B, N, 3, heads, head_dim).permute(2, 0, 3, 1, 4), then F.sdpa.
  auto parts =
      project_qkv(x, hooks, block).reshape({B, N, 3, heads, dim / heads}).permute({2, 0, 3, 1, 4});
  auto k = parts[1], v = parts[2];
  const KeyValuePrefix prefix = hooks ? hooks->prefix(block, B) : KeyValuePrefix{};
  if (prefix.defined()) {
    // {P, D} or {B, P, D} -> {B, heads, P, head_dim}, in the activations' dtype (autocast).
    const auto per_head = [&](const torch::Tensor& t) {
      const auto batched = t.dim() == 2 ? t.unsqueeze(0).expand({B, -1, -1}) : t;
      if (batched.dim() != 3 || batched.size(0) != B || batched.size(2) != dim) {
        throw Error("a key/value prefix must be [P, " + std::to_string(dim) + "] or [" +
                    std::to_string(B) + ", P, " + std::to_string(dim) + "], got " +
                    shape_string(t));
      }
      return batched.reshape({B, batched.size(1), heads, dim / heads})
          .permute({0, 2, 1, 3})
          .to(k.scalar_type());
    };
    const auto keys = per_head(prefix.keys), values = per_head(prefix.values);
    if (keys.size(2) != values.size(2)) {
      throw Error("a key/value prefix needs as many keys as values, got " +
                  shape_string(prefix.keys) + " and " + shape_string(prefix.values));
    }
    k = torch::cat({keys, k}, 2);
    v = torch::cat({values, v}, 2);
  }
  auto out = at::scaled_dot_product_attention(parts[0], k, v);
  return proj->forward(out.transpose(1, 2).reshape({B, N, dim}));
}

VitMlpImpl::VitMlpImpl(int64_t dim, int64_t hidden) {
  fc1 = register_module("fc1", make_linear(dim, hidden, true));
  act = register_module("act", torch::nn::GELU());  // exact (erf) GELU, as nn.GELU()
  fc2 = register_module("fc2", make_linear(hidden, dim, true));
}

torch::Tensor VitMlpImpl::forward(const torch::Tensor& x) {
  return fc2->forward(act->forward(fc1->forward(x)));
}

VitBlockImpl::VitBlockImpl(const VitOptions& o) {
  norm1 = register_module("norm1", make_norm(o.dim(), o.eps()));
  attn = register_module("attn", VitAttention(o.dim(), o.heads(), o.qkv_bias()));
  norm2 = register_module("norm2", make_norm(o.dim(), o.eps()));
  mlp = register_module("mlp", VitMlp(o.dim(), o.mlp_hidden()));
}

torch::Tensor VitBlockImpl::forward(const torch::Tensor& x, VitHooks* hooks, size_t block) {
  auto h = x + attn->forward(norm1->forward(x), hooks, block);
  auto branch = mlp->forward(norm2->forward(h));
  return h + (hooks ? hooks->mlp(block, h, branch) : branch);
}

VitPatchEmbedImpl::VitPatchEmbedImpl(int64_t in_channels, int64_t dim, int64_t patch_size) {
  // Default Conv2d init, as timm leaves patch_embed.proj to PyTorch's default.
  proj = register_module(
      "proj",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, dim, patch_size).stride(patch_size)));
}

torch::Tensor VitPatchEmbedImpl::forward(const torch::Tensor& images) {
  return proj->forward(images).flatten(2).transpose(1, 2);  // {B, D, h, w} -> {B, h*w, D}
}

VitImpl::VitImpl(const VitOptions& opts) : options(opts) {
  validate(options);
  const int64_t D = options.dim();
  // Own parameters first, then submodules: the same order as timm's state_dict.
  cls_token = register_parameter("cls_token", torch::zeros({1, 1, D}));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, 1 + options.num_patches(), D}));
  {
    torch::NoGradGuard no_grad;
    cls_token.normal_(0.0, 1e-6);  // timm init_weights: normal std 1e-6
    trunc_normal_(pos_embed, 0.0, 0.02, -2.0, 2.0);
  }
  patch_embed =
      register_module("patch_embed", VitPatchEmbed(options.in_channels(), D, options.patch_size()));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.depth(); ++i) blocks->push_back(VitBlock(options));
  norm = register_module("norm", make_norm(D, options.eps()));
}

torch::Tensor VitImpl::prepare(const torch::Tensor& images) const {
  if (images.dim() != 4) {
    throw Error("ViT input must be {B, C, H, W}, got " + shape_string(images));
  }
  auto x = images;
  const int64_t c = x.size(1), want = options.in_channels();
  if (c != want) {
    if (c == 1 && want == 3) {
      x = x.expand({-1, 3, -1, -1});
    } else if (c == 3 && want == 1) {
      // ITU-R 601 luma, as torchvision's rgb_to_grayscale.
      x = (0.299 * x.select(1, 0) + 0.587 * x.select(1, 1) + 0.114 * x.select(1, 2)).unsqueeze(1);
    } else {
      throw Error("ViT expects " + std::to_string(want) + "-channel images, got " +
                  shape_string(images));
    }
  }
  const int64_t s = options.image_size();
  if (x.size(2) != s || x.size(3) != s) {
    namespace F = torch::nn::functional;
    // Bilinear, align_corners=false; antialiased when shrinking, like torchvision's Resize.
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{s, s})
                              .mode(torch::kBilinear)
                              .align_corners(false)
                              .antialias(x.size(2) > s || x.size(3) > s));
  }
  return x;
}

torch::Tensor VitImpl::forward(const torch::Tensor& images) {
  return tokens(images).select(1, 0);  // timm global_pool='token': x[:, 0]
}

torch::Tensor VitImpl::tokens(const torch::Tensor& images) {
  auto x = patch_embed->forward(prepare(images));
  const int64_t B = x.size(0);
  x = torch::cat({cls_token.expand({B, -1, -1}), x}, 1) + pos_embed;
  auto prompt = hooks ? hooks->input_tokens(B) : torch::Tensor();
  if (prompt.defined()) {
    if (prompt.dim() == 2) prompt = prompt.unsqueeze(0).expand({B, -1, -1});
    x = torch::cat({x.narrow(1, 0, 1), prompt, x.narrow(1, 1, x.size(1) - 1)}, 1);
  }
  for (size_t i = 0; i < depth(); ++i) x = block_boundary(block(i).forward(x, hooks.get(), i));
  return norm->forward(x);
}

torch::Tensor VitImpl::query(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  struct WithoutHooks {
    explicit WithoutHooks(std::shared_ptr<VitHooks>& h) : slot(h), kept(std::move(h)) {}
    ~WithoutHooks() { slot = std::move(kept); }
    std::shared_ptr<VitHooks>& slot;
    std::shared_ptr<VitHooks> kept;
  } without(hooks);
  return forward(images);
}

namespace {

// Every preset is a backbone; it fixes its own image size and channels, whatever the stream's
// input shape (other inputs are resized in forward).
const bool registered_vit = [] {
  for (const auto& e : preset_table()) {
    const std::string name = e.preset.name;
    register_backbone({name, "vit", e.preset.description, name == "vit-tiny28",
                       [name](const std::vector<int64_t>&) -> std::shared_ptr<BackboneImpl> {
                         return Vit(vit_preset(name)).ptr();
                       }});
  }
  return true;
}();

}  // namespace
}  // namespace clbench
