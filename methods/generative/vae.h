#pragma once
// Variational auto-encoders for generative replay, as G. van de Ven's code builds them
// (GMvandeVen/continual-learning, models/vae.py, models/fc/, models/conv/): an encoder to features,
// a split layer to the mean and log-variance of z (models/fc/layers.py fc_layer_split: the
// log-variance layer has no bias), and a decoder from z back to pixels in (0, 1) (sigmoid output).
//
// - MLP (28x28 and smaller): fc_layers - 1 hidden ReLU layers of `hidden` units each way
//   (fcE / fromZ + fcD), the defaults of splitMNIST: fc_layers 3, 400 units, z_dim 100.
// - Convolutional (32x32 and larger): van de Ven's "standard" ConvLayers / DeconvLayers of his
//   CIFAR defaults (depth 5, 16 start channels doubled in each of the depth - 1 reducing layers,
//   batch norm, 3x3 convolutions with stride 2, 4x4 transposed convolutions with stride 2, the
//   encoder's last convolution without batch norm or ReLU: no_fnl), then the same fc layers (his
//   CIFAR width: 2000). He only runs 32x32; for other sizes this file chooses the depth so that the
//   smallest feature map is at most 2x2 as at 32x32, caps the channels at 256 (his 32x32 maximum),
//   and crops the decoder's output to the image when the sizes are not powers of two.
//
// The loss per sample is van de Ven's VAE.loss_function with average=True: the reconstruction
// term averaged over pixels (BCE, or MSE = -log N(x; x_recon, I) averaged, i.e. 0.5 (x - x')^2),
// plus the KL divergence to N(0, I) (Kingma & Welling 2014, App. B) divided by the number of
// pixels C*H*W.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "datasets/batch.h"
#include "datasets/dataset.h"

namespace clbench::generative {

enum class Architecture { kMlp, kConv };
enum class Reconstruction { kBce, kMse };

// "auto" picks the convolutional VAE when both image sides are at least 32, else the MLP.
Architecture architecture(const std::string& key, const std::vector<int64_t>& image_shape);
// "auto": BCE for the MLP (van de Ven's MNIST), MSE for the convolutional VAE (his CIFAR).
Reconstruction reconstruction(const std::string& key, Architecture architecture);
// van de Ven's fc width for the architecture when `hidden` is 0: 400 (splitMNIST), 2000 (CIFAR).
int64_t default_hidden(Architecture architecture);

// The convolutional stack's shape for an image {C, H, W} (see the top of this file).
struct ConvGeometry {
  int64_t channels = 1, height = 0, width = 0;  // the image
  std::vector<int64_t> widths;                  // output channels of conv layer 1..depth
  int64_t out_height = 0, out_width = 0;        // the last feature map
  int64_t units() const { return widths.back() * out_height * out_width; }
};
ConvGeometry conv_geometry(const std::vector<int64_t>& image_shape);

struct VaeConfig {
  std::vector<int64_t> image_shape;  // {C, H, W}
  Architecture architecture = Architecture::kMlp;
  int64_t z_dim = 100;
  int64_t hidden = 400;   // fc units
  int64_t fc_layers = 3;  // van de Ven's fc_lay: fc_layers - 1 hidden layers in the encoder
  int64_t pixels() const { return image_shape[0] * image_shape[1] * image_shape[2]; }
};

// z {B, z_dim} -> pixels {B, C, H, W} in (0, 1): fromZ and fcD (and the deconvolutions).
struct DecoderImpl : torch::nn::Module {
  explicit DecoderImpl(const VaeConfig& config);
  torch::Tensor forward(const torch::Tensor& z);
  VaeConfig config;
  ConvGeometry geometry;  // kConv only
  torch::nn::Sequential fc{nullptr};
  torch::nn::Sequential deconv{nullptr};  // kConv only
};
TORCH_MODULE(Decoder);

// pixels {B, C, H, W} -> features {B, out_dim}: convE (kConv) and fcE.
struct EncoderImpl : torch::nn::Module {
  explicit EncoderImpl(const VaeConfig& config);
  torch::Tensor forward(const torch::Tensor& pixels);
  int64_t out_dim = 0;
  torch::nn::Sequential conv{nullptr};  // kConv only
  torch::nn::Sequential fc{nullptr};
};
TORCH_MODULE(Encoder);

// fc_layer_split with nl none: the mean of z (with a bias) and its log-variance (without).
struct LatentImpl : torch::nn::Module {
  LatentImpl(int64_t in_features, int64_t z_dim);
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& features);
  torch::nn::Linear mean{nullptr}, logvar{nullptr};
};
TORCH_MODULE(Latent);

struct VaeOutput {
  torch::Tensor recon, mu, logvar;
};

// The separate generator of DGR (models/vae.py VAE with the standard prior).
struct VaeImpl : torch::nn::Module {
  explicit VaeImpl(const VaeConfig& config);
  // Encodes pixels, reparameterises with the given standard-normal noise eps {B, z_dim} and
  // decodes.
  VaeOutput forward(const torch::Tensor& pixels, const torch::Tensor& eps);
  VaeConfig config;
  Encoder encoder{nullptr};
  Latent latent{nullptr};
  Decoder decoder{nullptr};
};
TORCH_MODULE(Vae);

// z = mu + eps * exp(logvar / 2) (the reparameterisation trick).
torch::Tensor reparameterize(const torch::Tensor& mu, const torch::Tensor& logvar,
                             const torch::Tensor& eps);
// Per-sample reconstruction loss averaged over the pixels {B}.
torch::Tensor reconstruction_loss(const torch::Tensor& pixels, const torch::Tensor& recon,
                                  Reconstruction kind);
// Per-sample KL(q(z|x) || N(0, I)) divided by `pixels` {B}.
torch::Tensor kl_per_pixel(const torch::Tensor& mu, const torch::Tensor& logvar, int64_t pixels);
// reconstruction_loss + kl_per_pixel of a VAE's output for its input pixels (lamda_rcl = lamda_vl
// = 1) {B}.
torch::Tensor vae_loss(const torch::Tensor& pixels, const VaeOutput& out, Reconstruction kind);

// PyTorch's default initialisation of every Linear, Conv2d and ConvTranspose2d in `module`
// (kaiming_uniform with a = sqrt(5): weight and bias uniform in +-1/sqrt(fan_in), fan_in =
// weight.size(1) * kernel size), drawn in module order from `generator`, so every rank builds the
// same weights whatever the global random state.
void init_default(torch::nn::Module& module, at::Generator& generator);

// The tensors a fit must keep and restore: the parameters, then the batch-norm running statistics
// (buffers: they have no gradient, so the optimiser leaves them alone).
std::vector<torch::Tensor> fit_tensors(const torch::nn::Module& module);
// Parameters plus batch-norm running means and variances (what a method must store).
int64_t stored_numbers(const torch::nn::Module& module);

// Rows of shard `shard` (of `shards`, laid out as datasets/loader.cpp shard()) of a global
// {global_size, dim} matrix of standard normals drawn on the CPU from `seed`: every rank draws the
// same global matrix and each shard takes its own rows.
torch::Tensor shard_normal_rows(uint64_t seed, int64_t global_size, int shards, int shard,
                                int64_t dim, const torch::Device& device);

// The model's input space of a dataset (Dataset::model_input: pixels / 255, then (x - mean) / std
// for image datasets), so that a generator works on pixels in [0, 1] and hands the classifier
// exactly what the dataset would.
class PixelSpace {
 public:
  PixelSpace() = default;
  PixelSpace(const Dataset& data, const std::vector<int64_t>& image_shape,
             const torch::Device& device);
  // The model input of pixels in [0, 1] (as the dataset converts them; `pixels` is not changed).
  torch::Tensor to_input(const torch::Tensor& pixels) const;
  // The pixels of a model input: the inverse of model_input's per-channel affine map, clamped
  // to [0, 1] (exactly the input where the dataset does not normalise).
  torch::Tensor to_pixels(const torch::Tensor& input) const;
  bool identity() const { return identity_; }

 private:
  const Dataset* data_ = nullptr;
  torch::Tensor shift_, scale_;  // model_input(p) = p * scale + shift, {1, C, 1, 1}
  bool identity_ = true;
};

}  // namespace clbench::generative
