// Times one SD-LoRA training step in clbench (the C++ side of bench/lora_step.py): a frozen ViT
// preset at task 2 of SD-LoRA (one frozen normalised direction and the current LoRA on q and v of
// every block, two magnitudes), a 20-class head trained on the current 10 classes, SGD with
// momentum. Prints the median milliseconds per step. Subnormals are flushed, as in clbench
// (harness/cli/main.cpp); --flush-denormal 0 keeps them.
//
//   build/clbench_lora_step --preset vit-b16 --batch 32 --steps 5 --threads 1
//   build/clbench_lora_step --preset vit-b16 --batch 64 --steps 20 --device cuda [--tf32 1]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "bench/sd_lora_task_two.h"
#include "harness/models/vit.h"
#include "methods/adapters/lora.h"

using namespace clbench;

int main(int argc, char** argv) {
  std::string preset = "vit-tiny28";
  int64_t batch = 32, steps = 10, threads = 1;
  bool flush_denormal = true;  // as clbench itself runs
  bool tf32 = false;
  std::string device_name = "cpu";
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
    else if (k == "--device")
      device_name = v;
    else if (k == "--tf32")
      tf32 = v == "1";
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  torch::set_num_threads(static_cast<int>(threads));
  at::globalContext().setFlushDenormal(flush_denormal);
  at::globalContext().setAllowTF32CuBLAS(tf32);
  at::globalContext().setAllowTF32CuDNN(tf32);
  const torch::Device device(device_name);
  torch::manual_seed(0);
  auto options = vit_preset(preset);
  Vit vit(options);
  vit->to(device);
  for (auto& p : vit->parameters()) p.requires_grad_(false);
  auto params = bench::install_task_two(*vit, device);
  torch::nn::Linear head(options.dim(), 20);
  head->to(device);
  params.push_back(head->weight);
  params.push_back(head->bias);
  torch::optim::SGD sgd(params, torch::optim::SGDOptions(0.01).momentum(0.9));
  const auto x =
      torch::rand({batch, options.in_channels(), options.image_size(), options.image_size()})
          .to(device);
  const auto y = torch::randint(10, 20, {batch}, torch::kLong).to(device);

  std::vector<double> ms;
  for (int64_t s = 0; s < steps + 2; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    sgd.zero_grad();
    const auto logits = head->forward(vit->forward(x));
    torch::nn::functional::cross_entropy(logits.narrow(1, 10, 10), y - 10).backward();
    sgd.step();
    if (device.is_cuda()) torch::cuda::synchronize();
    const double dt =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (s >= 2) ms.push_back(dt);  // two warm-up steps
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  std::printf("%s on %s%s batch %lld threads %lld: %.2f ms/step (median of %zu), %.0f images/s\n",
              preset.c_str(), device_name.c_str(), tf32 ? " (TF32)" : "",
              static_cast<long long>(batch), static_cast<long long>(threads), median, ms.size(),
              1000.0 * static_cast<double>(batch) / median);
  return 0;
}
