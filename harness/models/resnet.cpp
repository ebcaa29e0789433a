#include "harness/models/resnet.h"

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/models/backbones.h"

namespace clbench {
namespace {

namespace nn = torch::nn;

// torchvision ResNet.__init__: kaiming_normal_(mode="fan_out", nonlinearity="relu"), no bias.
nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  nn::Conv2d conv(
      nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
  torch::NoGradGuard no_grad;
  nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
  return conv;
}

// Registers conv and norm under their torchvision names in `owner` and adds the site.
size_t add_site(ResNetSites& sites, nn::Module& owner, const std::string& prefix,
                const std::string& conv_name, const std::string& norm_name, nn::Conv2d conv) {
  BatchNorm2d norm(conv->options.out_channels());
  owner.register_module(conv_name, conv);
  owner.register_module(norm_name, norm);
  sites.sites.push_back({prefix + conv_name, prefix + norm_name, conv, norm});
  return sites.sites.size() - 1;
}

}  // namespace

torch::Tensor ResNetSites::apply(size_t site, const torch::Tensor& x) {
  auto& s = sites[site];
  auto y = s.conv->forward(x);
  return hook ? hook->forward(site, y, *s.norm) : s.norm->forward(y);
}

ResNetBlockImpl::ResNetBlockImpl(const std::string& prefix, int64_t in, int64_t planes,
                                 int64_t stride, bool bottleneck, ResNetSites& sites,
                                 std::shared_ptr<ResNetSites> s)
    : shared(std::move(s)) {
  const int64_t out = bottleneck ? 4 * planes : planes;
  if (bottleneck) {
    body.push_back(add_site(sites, *this, prefix, "conv1", "bn1", make_conv(in, planes, 1, 1)));
    body.push_back(
        add_site(sites, *this, prefix, "conv2", "bn2", make_conv(planes, planes, 3, stride)));
    body.push_back(add_site(sites, *this, prefix, "conv3", "bn3", make_conv(planes, out, 1, 1)));
  } else {
    body.push_back(
        add_site(sites, *this, prefix, "conv1", "bn1", make_conv(in, planes, 3, stride)));
    body.push_back(add_site(sites, *this, prefix, "conv2", "bn2", make_conv(planes, planes, 3, 1)));
  }
  if (stride != 1 || in != out) {
    // torchvision: downsample = Sequential(conv1x1, BatchNorm2d), named downsample.0 / .1
    auto seq = register_module("downsample", nn::Sequential());
    downsample =
        add_site(sites, *seq, prefix + "downsample.", "0", "1", make_conv(in, out, 1, stride));
  }
}

torch::Tensor ResNetBlockImpl::forward(const torch::Tensor& x) {
  auto y = x;
  for (size_t i = 0; i < body.size(); ++i) {
    y = shared->apply(body[i], y);
    if (i + 1 < body.size()) y = torch::relu(y);
  }
  return torch::relu(y + (downsample ? shared->apply(*downsample, x) : x));
}

ResNetImpl::ResNetImpl(const ResNetOptions& opts)
    : options(opts), sites_(std::make_shared<ResNetSites>()) {
  const auto& o = options;
  if (o.width() < 1 || o.in_channels() < 1 || o.blocks().empty()) {
    throw Error("ResNet options: width, in_channels and the block counts must be positive");
  }
  const int64_t expansion = o.bottleneck() ? 4 : 1;
  add_site(*sites_, *this, "", "conv1", "bn1",
           o.cifar_stem() ? make_conv(o.in_channels(), o.width(), 3, 1)
                          : make_conv(o.in_channels(), o.width(), 7, 2));
  int64_t in = o.width();
  for (size_t i = 0; i < o.blocks().size(); ++i) {
    const int64_t planes = o.width() << i;
    const std::string name = "layer" + std::to_string(i + 1);
    nn::Sequential layer;
    for (int64_t b = 0; b < o.blocks()[i]; ++b) {
      const int64_t stride = (i > 0 && b == 0) ? 2 : 1;
      layer->push_back(ResNetBlock(name + "." + std::to_string(b) + ".", in, planes, stride,
                                   o.bottleneck(), *sites_, sites_));
      in = planes * expansion;
    }
    layers.push_back(register_module(name, layer));
  }
  feature_dim_ = in;
}

torch::Tensor ResNetImpl::prepare(const torch::Tensor& images) const {
  const int64_t c = images.size(1), want = options.in_channels();
  if (c == want) return images;
  if (c == 1) return images.expand({-1, want, -1, -1});
  if (c == 3 && want == 1) {  // ITU-R 601 luma
    return (0.299 * images.select(1, 0) + 0.587 * images.select(1, 1) + 0.114 * images.select(1, 2))
        .unsqueeze(1);
  }
  throw Error("ResNet with " + std::to_string(want) + " input channels got images with " +
              std::to_string(c));
}

torch::Tensor ResNetImpl::stem(const torch::Tensor& x) {
  auto y = torch::relu(sites_->apply(0, x));
  return options.cifar_stem() ? y : torch::max_pool2d(y, 3, 2, 1);
}

torch::Tensor ResNetImpl::stage(size_t i, const torch::Tensor& x) {
  return layers.at(i)->forward(x);
}

torch::Tensor ResNetImpl::pool(const torch::Tensor& x) {
  return x.mean({2, 3});
}

int64_t ResNetImpl::stage_channels(size_t i) const {
  return (options.width() << i) * (options.bottleneck() ? 4 : 1);
}

torch::Tensor ResNetImpl::forward(const torch::Tensor& images) {
  auto x = prepare(images);
  if (x.is_cuda()) x = x.contiguous(at::MemoryFormat::ChannelsLast);  // cuDNN's fast layout
  x = stem(x);
  for (size_t i = 0; i < layers.size(); ++i) x = block_boundary(stage(i, x));
  return pool(x);
}

const std::vector<ResNetPreset>& resnet_presets() {
  static const std::vector<ResNetPreset> table = {
      {"resnet18", "torchvision ResNet-18 (ImageNet stem, RGB), 512-d, 11.2 M parameters",
       ResNetOptions(), false},
      {"resnet34", "torchvision ResNet-34 (ImageNet stem, RGB), 512-d, 21.3 M parameters",
       ResNetOptions().blocks({3, 4, 6, 3}), false},
      {"resnet50", "torchvision ResNet-50 (Bottleneck v1.5, RGB), 2048-d, 23.5 M parameters",
       ResNetOptions().bottleneck(true).blocks({3, 4, 6, 3}), false},
      {"resnet18-cifar", "ResNet-18 with the CIFAR stem (3x3 stride 1, no max-pool), 512-d",
       ResNetOptions().cifar_stem(true), true},
      {"resnet18-reduced", "reduced ResNet-18 of GEM / A-GEM: CIFAR stem, width 20, 160-d",
       ResNetOptions().cifar_stem(true).width(20), true},
      {"resnet-tiny", "ResNet-18 layout, CIFAR stem, width 16 (128-d): CPU demonstrations",
       ResNetOptions().cifar_stem(true).width(16), true},
  };
  return table;
}

namespace {

const bool registered_resnet = [] {
  for (const auto& p : resnet_presets()) {
    register_backbone({p.name, "resnet", p.description, p.name == "resnet-tiny",
                       [p](const std::vector<int64_t>& s) -> std::shared_ptr<BackboneImpl> {
                         auto o = p.options;
                         if (p.stream_channels) o.in_channels(s[0]);
                         return ResNet(o).ptr();
                       },
                       true});
  }
  return true;
}();

}  // namespace
}  // namespace clbench
