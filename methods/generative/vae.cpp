#include "methods/generative/vae.h"

#include <algorithm>
#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/models/batch_norm.h"

#include "methods/generative/binary_cross_entropy.h"

namespace clbench::generative {
namespace {

namespace nn = torch::nn;

constexpr int64_t kStartChannels = 16;  // van de Ven's --channels default
constexpr int64_t kMaxChannels = 256;   // his 32x32 stack's widest layer (16 * 2^4)

// fcE, or fcD without its output layer: Linear + ReLU layers.
void add_relu_layers(nn::Sequential& seq, int64_t in, int64_t units, int64_t layers) {
  for (int64_t i = 0; i < layers; ++i) {
    seq->push_back(nn::Linear(in, units));
    seq->push_back(nn::ReLU());
    in = units;
  }
}

}  // namespace

Architecture architecture(const std::string& key, const std::vector<int64_t>& image_shape) {
  if (key == "mlp") return Architecture::kMlp;
  if (key == "conv") return Architecture::kConv;
  if (key != "auto") throw Error("internal: unknown VAE architecture '" + key + "'");
  return std::min(image_shape.at(1), image_shape.at(2)) >= 32 ? Architecture::kConv
                                                              : Architecture::kMlp;
}

Reconstruction reconstruction(const std::string& key, Architecture a) {
  if (key == "bce") return Reconstruction::kBce;
  if (key == "mse") return Reconstruction::kMse;
  if (key != "auto") throw Error("internal: unknown reconstruction loss '" + key + "'");
  return a == Architecture::kConv ? Reconstruction::kMse : Reconstruction::kBce;
}

int64_t default_hidden(Architecture a) {
  return a == Architecture::kConv ? 2000 : 400;  // params/param_values.py: fc_units
}

ConvGeometry conv_geometry(const std::vector<int64_t>& s) {
  ConvGeometry g;
  g.channels = s.at(0);
  g.height = s.at(1);
  g.width = s.at(2);
  // Reducing layers (stride 2, ceil(side / 2)) until the larger side is at most 2: 4 at 32x32,
  // depth = reducing layers + 1 (models/conv/nets.py: rl = depth - 1, the first layer keeps size).
  int64_t h = g.height, w = g.width, reducing = 0;
  while (reducing == 0 || std::max(h, w) > 2) {
    h = (h + 1) / 2;
    w = (w + 1) / 2;
    ++reducing;
  }
  g.out_height = h;
  g.out_width = w;
  g.widths.push_back(kStartChannels);
  for (int64_t i = 0; i < reducing; ++i)
    g.widths.push_back(std::min(kMaxChannels, g.widths.back() * 2));
  return g;
}

DecoderImpl::DecoderImpl(const VaeConfig& c) : config(c) {
  if (c.fc_layers < 2) throw Error("internal: a VAE needs at least 2 fc layers");
  fc = nn::Sequential();
  // fromZ, then fcD's hidden layers (fc_layers - 1 layers in all before the output layer).
  add_relu_layers(fc, c.z_dim, c.hidden, c.fc_layers - 1);
  if (c.architecture == Architecture::kMlp) {
    fc->push_back(nn::Linear(c.hidden, c.pixels()));  // fcD's output layer: sigmoid
    fc->push_back(nn::Sigmoid());
    register_module("fc", fc);
    return;
  }
  geometry = conv_geometry(c.image_shape);
  // With conv layers fcD's last layer is "normal" (ReLU) and feeds the deconvolutions.
  fc->push_back(nn::Linear(c.hidden, geometry.units()));
  fc->push_back(nn::ReLU());
  register_module("fc", fc);
  deconv = nn::Sequential();
  const auto& w = geometry.widths;
  for (size_t i = w.size() - 1; i >= 1; --i) {  // DeconvLayers: the reducing layers first
    deconv->push_back(
        nn::ConvTranspose2d(nn::ConvTranspose2dOptions(w[i], w[i - 1], 4).stride(2).padding(1)));
    deconv->push_back(BatchNorm2d(w[i - 1]));
    deconv->push_back(nn::ReLU());
  }
  // The last layer: stride 1, 3x3, no batch norm, sigmoid output.
  deconv->push_back(
      nn::ConvTranspose2d(nn::ConvTranspose2dOptions(w[0], c.image_shape[0], 3).padding(1)));
  deconv->push_back(nn::Sigmoid());
  register_module("deconv", deconv);
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& z) {
  auto x = fc->forward(z);
  const int64_t B = z.size(0);
  const auto& s = config.image_shape;
  if (config.architecture == Architecture::kMlp) return x.view({B, s[0], s[1], s[2]});
  x = deconv->forward(x.view({B, geometry.widths.back(), geometry.out_height, geometry.out_width}));
  // The stack gives out_size * 2^reducing per side; crop the centre where that exceeds the image.
  const int64_t dh = x.size(2) - s[1], dw = x.size(3) - s[2];
  if (dh > 0) x = x.narrow(2, dh / 2, s[1]);
  if (dw > 0) x = x.narrow(3, dw / 2, s[2]);
  return x;
}

EncoderImpl::EncoderImpl(const VaeConfig& c) {
  if (c.fc_layers < 2) throw Error("internal: a VAE needs at least 2 fc layers");
  int64_t in = c.pixels();
  if (c.architecture == Architecture::kConv) {
    const auto g = conv_geometry(c.image_shape);
    conv = nn::Sequential();
    int64_t channels = c.image_shape[0];
    for (size_t i = 0; i < g.widths.size(); ++i) {
      const bool last = i + 1 == g.widths.size();
      conv->push_back(nn::Conv2d(
          nn::Conv2dOptions(channels, g.widths[i], 3).stride(i == 0 ? 1 : 2).padding(1)));
      if (!last) {  // no_fnl: the last convolution has neither batch norm nor ReLU
        conv->push_back(BatchNorm2d(g.widths[i]));
        conv->push_back(nn::ReLU());
      }
      channels = g.widths[i];
    }
    conv->push_back(nn::Flatten());
    register_module("conv", conv);
    in = g.units();
  }
  fc = nn::Sequential();
  add_relu_layers(fc, in, c.hidden, c.fc_layers - 1);  // fcE
  register_module("fc", fc);
  out_dim = c.hidden;
}

torch::Tensor EncoderImpl::forward(const torch::Tensor& pixels) {
  auto x = conv ? conv->forward(pixels) : pixels.flatten(1);
  return fc->forward(x);
}

LatentImpl::LatentImpl(int64_t in, int64_t z_dim) {
  mean = register_module("mean", nn::Linear(in, z_dim));
  logvar = register_module("logvar", nn::Linear(nn::LinearOptions(in, z_dim).bias(false)));
}

std::pair<torch::Tensor, torch::Tensor> LatentImpl::forward(const torch::Tensor& features) {
  return {mean->forward(features), logvar->forward(features)};
}

VaeImpl::VaeImpl(const VaeConfig& c) : config(c) {
  encoder = register_module("encoder", Encoder(c));
  latent = register_module("latent", Latent(encoder->out_dim, c.z_dim));
  decoder = register_module("decoder", Decoder(c));
}

VaeOutput VaeImpl::forward(const torch::Tensor& pixels, const torch::Tensor& eps) {
  VaeOutput out;
  std::tie(out.mu, out.logvar) = latent->forward(encoder->forward(pixels));
  out.recon = decoder->forward(reparameterize(out.mu, out.logvar, eps));
  return out;
}

torch::Tensor reparameterize(const torch::Tensor& mu, const torch::Tensor& logvar,
                             const torch::Tensor& eps) {
  return eps * torch::exp(0.5 * logvar) + mu;  // models/vae.py reparameterize
}

torch::Tensor reconstruction_loss(const torch::Tensor& pixels, const torch::Tensor& recon,
                                  Reconstruction kind) {
  const int64_t B = pixels.size(0);
  const auto x = pixels.reshape({B, -1});
  const auto r = recon.reshape({B, -1});
  if (kind == Reconstruction::kBce) {  // F.binary_cross_entropy(reduction='none').mean(dim=1)
    return binary_cross_entropy_per_element(r, x).mean(1);
  }
  // -lf.log_Normal_standard(x, mean=x_recon, average=True): 0.5 (x - x')^2 averaged.
  return (0.5 * (x - r).pow(2)).mean(1);
}

torch::Tensor kl_per_pixel(const torch::Tensor& mu, const torch::Tensor& logvar, int64_t pixels) {
  // calculate_variat_loss (standard prior), then variatL /= (channels * image_size ** 2).
  const auto kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1);
  return kl / static_cast<double>(pixels);
}

torch::Tensor vae_loss(const torch::Tensor& pixels, const VaeOutput& out, Reconstruction kind) {
  const int64_t per_sample = pixels.size(0) > 0 ? pixels[0].numel() : 1;
  return reconstruction_loss(pixels, out.recon, kind) +
         kl_per_pixel(out.mu, out.logvar, per_sample);
}

void init_default(torch::nn::Module& module, at::Generator& generator) {
  torch::NoGradGuard no_grad;
  auto draw = [&](torch::Tensor& weight, torch::Tensor& bias) {
    const int64_t fan_in = weight.size(1) * (weight.dim() > 2 ? weight[0][0].numel() : 1);
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    weight.copy_(torch::empty(weight.sizes()).uniform_(-bound, bound, generator));
    if (bias.defined()) bias.copy_(torch::empty(bias.sizes()).uniform_(-bound, bound, generator));
  };
  for (const auto& m : module.modules()) {
    if (auto* l = dynamic_cast<nn::LinearImpl*>(m.get())) {
      draw(l->weight, l->bias);
    } else if (auto* c = dynamic_cast<nn::Conv2dImpl*>(m.get())) {
      draw(c->weight, c->bias);
    } else if (auto* t = dynamic_cast<nn::ConvTranspose2dImpl*>(m.get())) {
      draw(t->weight, t->bias);
    }
  }
}

std::vector<torch::Tensor> fit_tensors(const torch::nn::Module& module) {
  auto tensors = module.parameters();
  for (const auto& m : module.modules()) {
    if (auto* bn = dynamic_cast<BatchNorm2dImpl*>(m.get())) {
      tensors.push_back(bn->running_mean);
      tensors.push_back(bn->running_var);
      tensors.push_back(bn->num_batches_tracked);
    }
  }
  return tensors;
}

int64_t stored_numbers(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  for (const auto& m : module.modules()) {
    if (auto* bn = dynamic_cast<BatchNorm2dImpl*>(m.get()))
      n += bn->running_mean.numel() + bn->running_var.numel();
  }
  return n;
}

torch::Tensor shard_normal_rows(uint64_t seed, int64_t global_size, int shards, int shard,
                                int64_t dim, const torch::Device& device) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto all = torch::randn({global_size, dim}, generator, torch::kFloat32);
  // datasets/loader.cpp shard(): contiguous parts, the first global_size % shards one longer.
  const int64_t base = global_size / shards, extra = global_size % shards;
  const int64_t begin = shard * base + std::min<int64_t>(shard, extra);
  const int64_t count = base + (shard < extra ? 1 : 0);
  return all.narrow(0, begin, count).contiguous().to(device);
}

PixelSpace::PixelSpace(const Dataset& data, const std::vector<int64_t>& s,
                       const torch::Device& device)
    : data_(&data) {
  // model_input is a per-channel affine map of float pixels (the identity, or ImageDataset's
  // mean/std): read it off at 0 and 1.
  const auto on = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  shift_ = data.model_input(torch::zeros({1, s.at(0), 1, 1}, on)).clone();
  scale_ = data.model_input(torch::ones({1, s.at(0), 1, 1}, on)).clone() - shift_;
  identity_ = shift_.eq(0).all().item<bool>() && scale_.eq(1).all().item<bool>();
}

torch::Tensor PixelSpace::to_input(const torch::Tensor& pixels) const {
  return data_->model_input(pixels.contiguous().clone());
}

torch::Tensor PixelSpace::to_pixels(const torch::Tensor& input) const {
  if (identity_) return input;
  return ((input - shift_) / scale_).clamp(0.0, 1.0);
}

}  // namespace clbench::generative
