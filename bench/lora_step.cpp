// Times one SD-LoRA training step in clbench (the C++ side of bench/lora_step.py): a frozen ViT
// preset at task 2 of SD-LoRA (one frozen normalised direction and the current LoRA on q and v of
// every block, two magnitudes), a 20-class head trained on the current 10 classes, SGD with
// momentum. Prints the median milliseconds per step. Subnormals are flushed, as in clbench
// (harness/main.cpp); --flush-denormal 0 keeps them.
//
//   build/clbench_lora_step --preset vit-b16 --batch 32 --steps 5 --threads 1
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "harness/lora.h"
#include "harness/vit.h"

using namespace clbench;

int main(int argc, char** argv) {
  std::string preset = "vit-tiny28";
  int64_t batch = 32, steps = 10, threads = 1;
  bool flush_denormal = true;  // as clbench itself runs
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--preset")
      preset = v;
    else if (k == "--batch")
      batch = std::stoll(v);
    else if (k == "--steps")
      steps = std::stoll(v);
    else if (k == "--threads")
      threads = std::stoll(v);
    else if (k == "--flush-denormal")
      flush_denormal = v == "1";
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  torch::set_num_threads(static_cast<int>(threads));
  at::globalContext().setFlushDenormal(flush_denormal);
  torch::manual_seed(0);
  auto options = vit_preset(preset);
  Vit vit(options);
  for (auto& p : vit->parameters()) p.requires_grad_(false);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
  auto alpha_old = torch::full({1}, 0.8).requires_grad_(true);
  auto alpha_new = torch::full({1}, 0.8).requires_grad_(true);
  std::vector<torch::Tensor> params = {alpha_old, alpha_new};
  for (auto& layer : install_qkv_lora(*vit, {QkvPart::kQ, QkvPart::kV})) {
    for (auto* linear : layer->linears()) {
      auto old = make_lora_update(linear->out_features(), linear->in_features(), 10, gen);
      {
        torch::NoGradGuard no_grad;
        old.factors[0].normal_(0.0, 0.01, gen);
      }
      old.freeze(LoraNorm::kFactorNorms);
      old.magnitude = alpha_old;
      auto current = make_lora_update(linear->out_features(), linear->in_features(), 10, gen);
      current.magnitude = alpha_new;
      params.insert(params.end(), current.factors.begin(), current.factors.end());
      linear->updates = {old, current};
    }
  }
  torch::nn::Linear head(options.dim(), 20);
  params.push_back(head->weight);
  params.push_back(head->bias);
  torch::optim::SGD sgd(params, torch::optim::SGDOptions(0.01).momentum(0.9));
  const auto x =
      torch::rand({batch, options.in_channels(), options.image_size(), options.image_size()});
  const auto y = torch::randint(10, 20, {batch}, torch::kLong);

  std::vector<double> ms;
  for (int64_t s = 0; s < steps + 2; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    sgd.zero_grad();
    const auto logits = head->forward(vit->forward(x));
    torch::nn::functional::cross_entropy(logits.narrow(1, 10, 10), y - 10).backward();
    sgd.step();
    const double dt =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (s >= 2) ms.push_back(dt);  // two warm-up steps
  }
  std::sort(ms.begin(), ms.end());
  std::printf("%s batch %lld threads %lld: %.2f ms/step (median of %zu)\n", preset.c_str(),
              static_cast<long long>(batch), static_cast<long long>(threads), ms[ms.size() / 2],
              ms.size());
  return 0;
}
