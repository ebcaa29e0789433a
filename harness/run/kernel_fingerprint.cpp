#include "harness/run/kernel_fingerprint.h"

#include <functional>
#include <map>

#include <torch/torch.h>

#include "harness/foundation/hash.h"
#include "harness/foundation/random.h"

namespace clbench {
namespace {

namespace F = torch::nn::functional;

// Uniform in [-scale, scale), the same floats on every machine.
torch::Tensor fixed(std::vector<int64_t> shape, uint64_t seed, double scale = 1.0) {
  SplitMix64 rng(seed);
  auto t = torch::empty(shape, torch::kFloat32);
  float* p = t.data_ptr<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(rng.uniform(-scale, scale));
  return t;
}

torch::Tensor input(std::vector<int64_t> shape, uint64_t seed, double scale = 1.0) {
  return fixed(std::move(shape), seed, scale).requires_grad_(true);
}

uint64_t digest_of(const std::vector<torch::Tensor>& outputs) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const auto& t : outputs) {
    const auto c = t.detach().to(torch::kFloat32).contiguous();
    h = fnv1a(c.data_ptr(), static_cast<size_t>(c.numel()) * sizeof(float), h);
  }
  return h;
}

// Output and input gradients of f for a fixed upstream gradient.
std::vector<torch::Tensor> with_backward(const torch::Tensor& out,
                                         const std::vector<torch::Tensor>& inputs) {
  std::vector<torch::Tensor> all{out};
  const auto grads = torch::autograd::grad({out}, inputs, {fixed(out.sizes().vec(), 99)});
  all.insert(all.end(), grads.begin(), grads.end());
  return all;
}

std::vector<torch::Tensor> gemm() {
  const auto x = fixed({128, 784}, 1), w = fixed({400, 784}, 2, 0.05), b = fixed({400}, 3);
  const auto g = fixed({128, 400}, 4);
  const auto a = fixed({4, 64, 32}, 5), c = fixed({4, 32, 64}, 6);
  const auto tokens = fixed({197, 192}, 7), qkv = fixed({192, 576}, 8, 0.1);
  return {torch::addmm(b, x, w.t()), x.t().mm(g), g.mm(w), torch::bmm(a, c), tokens.mm(qkv)};
}

std::vector<torch::Tensor> convolution() {
  const auto x = input({8, 3, 32, 32}, 11), w = input({16, 3, 3, 3}, 12, 0.3);
  const auto w1 = input({32, 16, 1, 1}, 13, 0.3);
  const auto y = F::conv2d(x, w, F::Conv2dFuncOptions().padding(1));
  const auto z = F::conv2d(y, w1, F::Conv2dFuncOptions().stride(2));
  return with_backward(z, {x, w, w1});
}

std::vector<torch::Tensor> softmax() {
  const auto logits = input({256, 10}, 21, 4.0);
  const auto labels = torch::arange(256, torch::kLong).remainder(10);
  const auto loss = F::cross_entropy(logits, labels);
  auto out = with_backward(loss, {logits});
  out.push_back(torch::softmax(logits, 1));
  out.push_back(torch::log_softmax(logits, 0));
  return out;
}

std::vector<torch::Tensor> reductions() {
  const auto x = fixed({1000, 300}, 31);
  return {x.sum(0), x.sum(), x.mean(1), x.var(0), x.norm(), x.cumsum(1)};
}

std::vector<torch::Tensor> transcendental() {
  const auto x = fixed({65536}, 41, 3.0);
  const auto pos = x.abs() + 0.5;
  return {x.exp(), pos.log(),  x.tanh(),    x.sigmoid(),  F::gelu(x),
          x.erf(), pos.sqrt(), pos.rsqrt(), pos.pow(2.5), F::silu(x)};
}

std::vector<torch::Tensor> normalization() {
  const auto x = input({64, 192}, 51), gamma = input({192}, 52), beta = input({192}, 53);
  const auto ln = F::layer_norm(x, F::LayerNormFuncOptions({192}).weight(gamma).bias(beta));
  auto out = with_backward(ln, {x, gamma, beta});
  const auto img = input({16, 8, 6, 6}, 54), bw = input({8}, 55), bb = input({8}, 56);
  const auto bn = F::batch_norm(img, torch::zeros({8}), torch::ones({8}),
                                F::BatchNormFuncOptions().weight(bw).bias(bb).training(true));
  const auto bn_all = with_backward(bn, {img, bw, bb});
  out.insert(out.end(), bn_all.begin(), bn_all.end());
  return out;
}

std::vector<torch::Tensor> attention() {
  const auto q = input({2, 3, 50, 16}, 61), k = input({2, 3, 50, 16}, 62);
  const auto v = input({2, 3, 50, 16}, 63);
  return with_backward(at::scaled_dot_product_attention(q, k, v), {q, k, v});
}

// Three steps of each optimizer on fixed gradients.
std::vector<torch::Tensor> optimizers() {
  std::vector<torch::Tensor> out;
  auto step3 =
      [&](const std::function<std::unique_ptr<torch::optim::Optimizer>(torch::Tensor)>& make,
          uint64_t seed) {
        auto p = fixed({1000}, seed).requires_grad_(true);
        auto opt = make(p);
        for (uint64_t s = 0; s < 3; ++s) {
          p.mutable_grad() = fixed({1000}, seed + 1 + s);
          opt->step();
        }
        out.push_back(p);
      };
  step3(
      [](torch::Tensor p) {
        return std::make_unique<torch::optim::SGD>(
            std::vector<torch::Tensor>{p},
            torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4));
      },
      71);
  step3(
      [](torch::Tensor p) {
        return std::make_unique<torch::optim::Adam>(
            std::vector<torch::Tensor>{p}, torch::optim::AdamOptions(1e-3).weight_decay(1e-4));
      },
      81);
  step3(
      [](torch::Tensor p) {
        return std::make_unique<torch::optim::AdamW>(std::vector<torch::Tensor>{p},
                                                     torch::optim::AdamWOptions(1e-3));
      },
      91);
  return out;
}

// Three SGD steps of the quick start's MLP (784-400-400-10, ReLU, batch 128, lr 0.01, momentum
// 0.9) on fixed weights and images: every kernel of its training step in its order.
std::vector<torch::Tensor> quick_start_step() {
  std::vector<torch::Tensor> params = {fixed({400, 784}, 101, 0.036), fixed({400}, 102, 0.036),
                                       fixed({400, 400}, 103, 0.05),  fixed({400}, 104, 0.05),
                                       fixed({10, 400}, 105, 0.05),   fixed({10}, 106, 0.05)};
  for (auto& p : params) p.requires_grad_(true);
  torch::optim::SGD opt(params, torch::optim::SGDOptions(0.01).momentum(0.9));
  for (uint64_t step = 0; step < 3; ++step) {
    const auto x = (fixed({128, 784}, 110 + step) + 1) / 2;
    const auto y = torch::arange(128, torch::kLong).remainder(10);
    auto h = torch::relu(torch::addmm(params[1], x, params[0].t()));
    h = torch::relu(torch::addmm(params[3], h, params[2].t()));
    const auto loss = F::cross_entropy(torch::addmm(params[5], h, params[4].t()), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  return params;
}

struct Family {
  const char* name;
  const char* operations;
  std::vector<torch::Tensor> (*run)();
};

const std::vector<Family>& families() {
  static const std::vector<Family> all = {
      {"gemm", "addmm, mm (both backward products), bmm, a ViT-sized product", gemm},
      {"convolution", "conv2d 3x3 and 1x1/stride 2, forward and backward", convolution},
      {"softmax", "cross-entropy forward and backward, softmax, log_softmax", softmax},
      {"reductions", "sum, mean, var, norm, cumsum", reductions},
      {"transcendental", "exp, log, tanh, sigmoid, gelu, erf, sqrt, rsqrt, pow, silu",
       transcendental},
      {"normalization", "layer_norm, batch_norm (training), forward and backward", normalization},
      {"attention", "scaled_dot_product_attention forward and backward", attention},
      {"optimizers", "3 steps of SGD (momentum, weight decay), Adam, AdamW", optimizers},
      {"quick-start-step", "3 training steps of the quick start's MLP", quick_start_step},
  };
  return all;
}

}  // namespace

std::vector<KernelDigest> kernel_fingerprint() {
  std::vector<KernelDigest> out;
  uint64_t all = 0xcbf29ce484222325ULL;
  for (const auto& f : families()) {
    const uint64_t h = digest_of(f.run());
    all = fnv1a(&h, sizeof h, all);
    out.push_back({f.name, f.operations, hex64(h)});
  }
  out.push_back({"all", "the digest of the digests above", hex64(all)});
  return out;
}

std::string published_digest(const std::string& family) {
  // cpu_kernels=portable, 2 threads, LibTorch 2.11.0 (README, "Reproducible CPU kernels").
  static const std::map<std::string, std::string> published = {
      {"gemm", "5df634b4c1856700"},
      {"convolution", "63216a085da9d137"},
      {"softmax", "364480cc7a13b86b"},
      {"reductions", "7d208b4bd26d40ac"},
      {"transcendental", "ee6c767b1a392831"},
      {"normalization", "18d1065cec57e291"},
      {"attention", "ad86ebf215731268"},
      {"optimizers", "62877a4a286de34f"},
      {"quick-start-step", "3ae0c8815d185d96"},
      {"all", "442b2167a60e2b48"}};
  const auto it = published.find(family);
  return it == published.end() ? "" : it->second;
}

}  // namespace clbench
