// Images/s and model FLOP utilisation (MFU) of one clbench training step, per precision, for
// three cases (the C++ side of bench/gpu_step.py; bench/README.md "One training step on a GPU"):
//   sd-lora   ViT preset with SD-LoRA at task 2, as bench/lora_step.cpp installs it (one frozen
//             normalised direction and the current LoRA, rank 10, on q and v of every block, two
//             magnitudes), frozen backbone, a 20-class head trained on the current 10 classes;
//   full-ft   the same ViT, every weight trained, 20-class head;
//   resnet18  clbench's ResNet-18 (harness/models/resnet.h) at 224x224, every weight trained,
//             20-class head, channels_last on CUDA as clbench runs it there.
// Each (case, precision) gets a fresh model (seed 0) and SGD with momentum 0.9 (make_optimizer,
// fused kernels unless --fused 0), and runs the trainer's step (harness/engine/step_loop.cpp):
// apply_matmul_precision, forward + loss under AutocastScope, GradScaler (fp16 only) scale /
// backward / unscale_and_update, then the optimizer step (skipped when fp16 gradients
// overflowed, as the trainer does). The input is one fixed random batch on the device. After
// --warmup steps the clock runs over --steps steps with one synchronisation before and one after
// (none per step; fp16's scaler reads one flag per step, as torch.amp.GradScaler does).
//
// Model FLOPs (per image, counted analytically; FLOPs = 2 x multiply-adds): every matrix product
// and convolution, nothing else (no norms, activations, softmax, optimizer). The forward pass
// counts each one once: ViT patch-embedding convolution, per block qkv, the attention scores
// QK^T and the product AV (each N x N x D over all heads), proj, fc1, fc2, the SD-LoRA factors,
// and the head on the class token; ResNet-18 every convolution (downsampling 1x1 included) and
// the fc. The backward pass counts, per product, its forward multiply-adds once for each operand
// that needs a gradient: the input activation when anything before it trains, the weight when
// it trains, and both operands of QK^T and AV. So full fine-tuning is 3x the forward minus the
// patch embedding's (or conv1's) input gradient (the images need none); SD-LoRA is about 2x
// (activation gradients down to block 0; weight gradients only for the current LoRA factors and
// the head; block 0's frozen qkv and k need no gradient). MFU = achieved / peak, peak = dense
// H100/H200 SXM tensor throughput: fp32 67, tf32 494.7, bf16 and fp16 989.4 TFLOP/s (--peak X
// uses X for every precision). On a CPU the MFU column is against the same GPU peaks.
//
// --profile DIR also records a Kineto trace (CPU ops, and CUDA kernels on a GPU) of
// --profile-steps steps of every (case, precision) run into DIR/<case>-<precision>.json, read by
// bench/gpu_profile_summary.py.
//
//   build/clbench_gpu_step --device cuda --batch 128 --steps 30 [--precisions bf16] [--json F]
//   build/clbench_gpu_step --device cpu --preset vit-tiny28 --resnet resnet-tiny --image 32
//       --batch 8 --steps 2   (one command line)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "bench/sd_lora_task_two.h"
#include "harness/distributed/cuda_library.h"
#include "harness/engine/optim.h"
#include "harness/engine/precision.h"
#include "harness/models/backbone.h"
#include "harness/models/backbones.h"
#include "harness/models/batch_norm.h"
#include "harness/models/resnet.h"
#include "harness/models/vit.h"
#include "methods/adapters/lora.h"

using namespace clbench;

namespace {

constexpr int64_t kClasses = 20;
constexpr int64_t kLoraRank = bench::kTaskTwoLoraRank;

// Multiply-adds per image of a forward and of a backward pass.
struct FlopCount {
  double forward = 0, backward = 0;
  // One product of `macs` multiply-adds; `grads` of its operands need a gradient (0, 1 or 2).
  void add(double macs, int grads) {
    forward += macs;
    backward += macs * grads;
  }
  double step_flops() const { return 2.0 * (forward + backward); }
};

FlopCount vit_flops(const VitOptions& o, bool sd_lora) {
  const double n = static_cast<double>(o.num_patches() + 1), d = static_cast<double>(o.dim());
  const double hidden = static_cast<double>(o.mlp_hidden()), r = kLoraRank;
  const double pixels = static_cast<double>(o.in_channels() * o.patch_size() * o.patch_size());
  FlopCount f;
  f.add(static_cast<double>(o.num_patches()) * pixels * d, sd_lora ? 0 : 1);  // patch embedding
  for (int64_t b = 0; b < o.depth(); ++b) {
    if (!sd_lora) {
      for (double macs :
           {n * d * 3 * d, n * n * d, n * n * d, n * d * d, n * d * hidden, n * hidden * d})
        f.add(macs, 2);  // qkv, QK^T, AV, proj, fc1, fc2
      continue;
    }
    const int up = b > 0 ? 1 : 0;  // the block's input has a gradient (LoRA below it trains)
    f.add(n * d * 3 * d, up);      // frozen qkv
    for (int slice = 0; slice < 2; ++slice) {  // q and v
      f.add(n * d * r, up);                    // A_old x (frozen)
      f.add(n * r * d, up);                    // B_old (A_old x) (frozen)
      f.add(n * d * r, up + 1);                // A_cur x
      f.add(n * r * d, 2);                     // B_cur (A_cur x)
    }
    f.add(n * n * d, 1 + up);  // QK^T: q has a gradient (its LoRA); k only above block 0
    f.add(n * n * d, 2);       // AV (v has its LoRA)
    for (double macs : {n * d * d, n * d * hidden, n * hidden * d}) f.add(macs, 1);
  }
  f.add(d * kClasses, 2);  // head on the class token
  return f;
}

FlopCount resnet_flops(const ResNetOptions& o, int64_t image) {
  if (o.bottleneck()) throw std::runtime_error("FLOP count: BasicBlock ResNets only");
  FlopCount f;
  // A k x k convolution with padding k/2 and the given stride on a hw x hw input.
  const auto conv = [&f](int64_t& hw, int64_t in, int64_t out, int64_t k, int64_t stride,
                         int grads) {
    hw = (hw + 2 * (k / 2) - k) / stride + 1;
    f.add(static_cast<double>(hw * hw * out * in * k * k), grads);
  };
  int64_t hw = image, in = o.width();
  if (o.cifar_stem()) {
    conv(hw, o.in_channels(), in, 3, 1, 1);  // the images need no gradient
  } else {
    conv(hw, o.in_channels(), in, 7, 2, 1);
    hw = (hw + 2 - 3) / 2 + 1;  // max-pool 3x3, stride 2, padding 1
  }
  for (size_t s = 0; s < o.blocks().size(); ++s) {
    const int64_t planes = o.width() << s;
    for (int64_t b = 0; b < o.blocks()[s]; ++b) {
      const int64_t stride = s > 0 && b == 0 ? 2 : 1;
      int64_t shortcut = hw;
      conv(hw, in, planes, 3, stride, 2);
      conv(hw, planes, planes, 3, 1, 2);
      if (stride != 1 || in != planes) conv(shortcut, in, planes, 1, stride, 2);
      in = planes;
    }
  }
  f.add(static_cast<double>(in * kClasses), 2);  // fc
  return f;
}

// One case, built fresh: the modules (kept alive), the trained tensors, the loss on the batch.
struct Workload {
  std::vector<std::shared_ptr<torch::nn::Module>> modules;
  std::vector<torch::Tensor> params;
  std::function<torch::Tensor()> loss;
  FlopCount flops;
};

struct Settings {
  std::string preset = "vit-b16", resnet = "resnet18";
  int64_t image = 224, batch = 128;
  torch::Device device = torch::kCPU;
};

Workload make_workload(const std::string& name, const Settings& s) {
  torch::manual_seed(0);
  Workload w;
  const auto dev = s.device;
  if (name == "sd-lora" || name == "full-ft") {
    const auto options = vit_preset(s.preset);
    const bool sd_lora = name == "sd-lora";
    Vit vit(options);
    vit->to(dev);
    torch::nn::Linear head(options.dim(), kClasses);
    head->to(dev);
    if (sd_lora) {
      for (auto& p : vit->parameters()) p.requires_grad_(false);
      w.params = bench::install_task_two(*vit, dev);
    } else {
      w.params = vit->parameters();
    }
    w.params.push_back(head->weight);
    w.params.push_back(head->bias);
    const auto x =
        torch::rand({s.batch, options.in_channels(), options.image_size(), options.image_size()})
            .to(dev);
    // sd-lora: the current task's classes 10..19 (relative labels); full-ft: all 20.
    const auto y = torch::randint(0, sd_lora ? 10 : kClasses, {s.batch}, torch::kLong).to(dev);
    w.loss = [vit, head, x, y, sd_lora]() mutable {
      auto logits = head->forward(vit->forward(x));
      if (sd_lora) logits = logits.narrow(1, 10, 10);
      return torch::nn::functional::cross_entropy(logits, y);
    };
    w.modules = {vit.ptr(), head.ptr()};
    w.flops = vit_flops(options, sd_lora);
  } else if (name == "resnet18") {
    auto model = make_classifier(s.resnet, {3, s.image, s.image}, kClasses);
    model->to(dev);
    auto x = torch::rand({s.batch, 3, s.image, s.image}).to(dev);
    if (dev.is_cuda()) {  // as clbench runs convolutions on GPUs (harness/run/session.cpp)
      use_channels_last(*model);
      x = x.contiguous(at::MemoryFormat::ChannelsLast);
    }
    const auto y = torch::randint(0, kClasses, {s.batch}, torch::kLong).to(dev);
    w.params = model->parameters();
    w.loss = [model, x, y]() mutable {
      return torch::nn::functional::cross_entropy(model->forward(x), y);
    };
    w.modules = {model.ptr()};
    const ResNetOptions* options = nullptr;
    for (const auto& p : resnet_presets()) {
      if (p.name == s.resnet) options = &p.options;
    }
    if (options == nullptr) throw std::runtime_error("unknown ResNet preset " + s.resnet);
    auto o = *options;
    o.in_channels(3);
    w.flops = resnet_flops(o, s.image);
  } else {
    throw std::runtime_error("unknown case " + name + " (sd-lora, full-ft, resnet18)");
  }
  return w;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

double peak_tflops(Precision p, double override_peak) {
  if (override_peak > 0) return override_peak;
  switch (p) {
    case Precision::kFp32:
      return 67.0;
    case Precision::kTf32:
      return 494.7;
    default:
      return 989.4;  // bf16, fp16
  }
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

// The first line of an exception's message, without LibTorch's backtrace.
std::string reason(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  std::string text = c10 != nullptr ? c10->what_without_backtrace() : e.what();
  text = text.substr(0, text.find('\n'));
  for (char& c : text) {
    if (c == '|') c = '/';
  }
  return text.size() > 160 ? text.substr(0, 160) + "..." : text;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  std::string device_name = "cpu", json_path, profile_dir;
  std::string cases_flag = "sd-lora,full-ft,resnet18", precisions_flag = "fp32,tf32,bf16,fp16";
  int64_t steps = 30, warmup = 5, threads = 0, profile_steps = 5;
  bool fused = true;
  double peak_override = 0;
  for (int i = 1; i < argc; i += 2) {
    const std::string k = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "option %s needs a value\n", k.c_str());
      return 2;
    }
    const std::string v = argv[i + 1];
    if (k == "--device")
      device_name = v;
    else if (k == "--cases")
      cases_flag = v;
    else if (k == "--precisions")
      precisions_flag = v;
    else if (k == "--batch")
      s.batch = std::stoll(v);
    else if (k == "--steps")
      steps = std::stoll(v);
    else if (k == "--warmup")
      warmup = std::stoll(v);
    else if (k == "--preset")
      s.preset = v;
    else if (k == "--resnet")
      s.resnet = v;
    else if (k == "--image")
      s.image = std::stoll(v);
    else if (k == "--fused")
      fused = v == "1";
    else if (k == "--peak")
      peak_override = std::stod(v);
    else if (k == "--json")
      json_path = v;
    else if (k == "--profile")
      profile_dir = v;
    else if (k == "--profile-steps")
      profile_steps = std::stoll(v);
    else if (k == "--threads")
      threads = std::stoll(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (steps < 1 || s.batch < 1 || warmup < 0) {
    std::fprintf(stderr, "--steps and --batch must be positive, --warmup not negative\n");
    return 2;
  }
  if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
  at::globalContext().setFlushDenormal(true);  // as clbench itself runs (harness/cli/main.cpp)
  s.device = torch::Device(device_name);
  if (s.device.is_cuda() && !clbench::cuda_available()) {
    std::fprintf(stderr, "--device %s: no CUDA device here\n", device_name.c_str());
    return 1;
  }
  const auto cases = split(cases_flag);
  for (const auto& name : cases) {
    if (name != "sd-lora" && name != "full-ft" && name != "resnet18") {
      std::fprintf(stderr, "unknown case %s (sd-lora, full-ft, resnet18)\n", name.c_str());
      return 2;
    }
  }
  std::vector<Precision> precisions;
  try {
    for (const auto& name : split(precisions_flag)) precisions.push_back(precision_from_name(name));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  std::ofstream json;
  if (!json_path.empty()) {
    json.open(json_path);
    if (!json) {
      std::fprintf(stderr, "cannot write %s\n", json_path.c_str());
      return 1;
    }
  }
  if (!profile_dir.empty()) std::filesystem::create_directories(profile_dir);

  std::printf(
      "clbench_gpu_step: device %s, batch %lld, %lld steps timed after %lld warm-up, %s "
      "SGD (momentum 0.9), ViT %s, ResNet %s at %lld px\n\n",
      device_name.c_str(), static_cast<long long>(s.batch), static_cast<long long>(steps),
      static_cast<long long>(warmup), fused ? "fused" : "unfused", s.preset.c_str(),
      s.resnet.c_str(), static_cast<long long>(s.image));
  std::printf(
      "| case | precision | ms/step | images/s | GFLOP/image (step) | TFLOP/s | peak "
      "TFLOP/s | MFU | notes |\n|---|---|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);
  for (const auto& case_name : cases) {
    for (const Precision p : precisions) {
      const std::string pname = precision_name(p);
      const double peak = peak_tflops(p, peak_override);
      nlohmann::json row = {{"case", case_name}, {"precision", pname}, {"device", device_name},
                            {"batch", s.batch},  {"steps", steps},     {"peak_tflops", peak}};
      try {
        apply_matmul_precision(p);
        auto w = make_workload(case_name, s);
        std::vector<ParamGroup> groups(1);
        groups[0].params = w.params;
        OptimizerSpec spec;
        spec.kind = "sgd";
        spec.lr = 0.01;
        spec.momentum = 0.9;
        auto optimizer = make_optimizer(groups, spec, fused);
        GradScaler scaler(p == Precision::kFp16);
        const auto step = [&]() {
          optimizer->zero_grad();
          torch::Tensor loss;
          {
            const ShardScope shard(0);  // batch norm: recorded, applied after the step
            const AutocastScope autocast(p, s.device.type());
            loss = w.loss();
          }
          scaler.scale(loss).backward();
          if (batch_norms_exist()) apply_running_updates(take_running_updates());
          if (scaler.unscale_and_update(w.params)) optimizer->step();
        };
        for (int64_t i = 0; i < warmup; ++i) step();
        synchronize(s.device);
        const auto t0 = std::chrono::steady_clock::now();
        for (int64_t i = 0; i < steps; ++i) step();
        synchronize(s.device);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double ms = 1000.0 * seconds / static_cast<double>(steps);
        const double images = static_cast<double>(s.batch * steps) / seconds;
        const double gflop = w.flops.step_flops() / 1e9;
        const double tflops = images * gflop / 1000.0;
        // Steps skipped for overflowed fp16 gradients (warm-up included): the scale halves on
        // each and grows only after 2000 clean ones.
        const int skipped =
            scaler.enabled() ? static_cast<int>(std::lround(
                                   std::log2(GradScaler::kInitialScale / scaler.current_scale())))
                             : 0;
        const std::string notes =
            skipped > 0 ? std::to_string(skipped) + " fp16 steps skipped" : std::string();
        std::printf("| %s | %s | %.2f | %.0f | %.2f | %.1f | %.1f | %.1f%% | %s |\n",
                    case_name.c_str(), pname.c_str(), ms, images, gflop, tflops, peak,
                    100.0 * tflops / peak, notes.c_str());
        row.update({{"status", "ok"},
                    {"ms_per_step", ms},
                    {"images_per_s", images},
                    {"gflop_per_image", gflop},
                    {"forward_gmac_per_image", w.flops.forward / 1e9},
                    {"tflops", tflops},
                    {"mfu", tflops / peak},
                    {"skipped_steps", skipped}});
        if (!profile_dir.empty()) {
          namespace prof = torch::autograd::profiler;
          using torch::profiler::impl::ActivityType;
          try {
            const torch::profiler::impl::ProfilerConfig config(
                torch::profiler::impl::ProfilerState::KINETO);
            std::set<ActivityType> activities = {ActivityType::CPU};
            if (s.device.is_cuda()) activities.insert(ActivityType::CUDA);
            prof::prepareProfiler(config, activities);
            prof::enableProfiler(config, activities);
            for (int64_t i = 0; i < profile_steps; ++i) {
              RECORD_USER_SCOPE("train_step");
              step();
            }
            synchronize(s.device);
            const auto path = profile_dir + "/" + case_name + "-" + pname + ".json";
            prof::disableProfiler()->save(path);
            row["profile"] = path;
          } catch (const std::exception& e) {  // the timing above stands
            std::fprintf(stderr, "profile of %s %s failed: %s\n", case_name.c_str(), pname.c_str(),
                         reason(e).c_str());
            row["profile_error"] = reason(e);
            try {
              prof::disableProfiler();
            } catch (const std::exception&) {  // it was not running
            }
          }
        }
      } catch (const std::exception& e) {
        const auto why = reason(e);
        std::printf("| %s | %s | n/a | n/a | n/a | n/a | %.1f | n/a | %s |\n", case_name.c_str(),
                    pname.c_str(), peak, why.c_str());
        row.update({{"status", "n/a"}, {"reason", why}});
      }
      std::fflush(stdout);
      if (json) json << row.dump() << "\n" << std::flush;
    }
  }
  return 0;
}
