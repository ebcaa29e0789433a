#include "harness/run/pretrain.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <tuple>

#include <torch/torch.h>

#include "datasets/fractal/fractal_dataset.h"
#include "datasets/loader.h"
#include "harness/engine/optim.h"
#include "harness/foundation/error.h"
#include "harness/foundation/files.h"
#include "harness/foundation/random.h"
#include "harness/foundation/text.h"
#include "harness/models/backbones.h"
#include "harness/models/vit.h"
#include "harness/models/weights.h"
#include "harness/run/cpu_kernels.h"

namespace clbench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

template <typename... Args>
std::string format(const char* pattern, Args... args) {
  char buf[256];
  std::snprintf(buf, sizeof buf, pattern, args...);
  return buf;
}

void check(const PretrainOptions& o) {
  auto fail = [](const std::string& option, const std::string& value, const std::string& why) {
    throw Error("pretrain: bad " + option + " " + value + ": " + why);
  };
  if (o.epochs < 1) fail("epochs", std::to_string(o.epochs), "must be at least 1");
  if (o.batch_size < 1) fail("batch size", std::to_string(o.batch_size), "must be at least 1");
  if (!(o.lr > 0) || !std::isfinite(o.lr)) fail("lr", std::to_string(o.lr), "must be positive");
  if (!(o.weight_decay >= 0) || !std::isfinite(o.weight_decay))
    fail("weight decay", std::to_string(o.weight_decay), "must be >= 0");
  const auto& kinds = optimizer_kinds();
  if (std::find(kinds.begin(), kinds.end(), o.optimizer) == kinds.end())
    fail("optimizer", "'" + o.optimizer + "'", "valid: " + join(kinds));
  if (o.threads < 0) fail("threads", std::to_string(o.threads), "must be >= 0");
  if (o.image_size < 0) fail("image size", std::to_string(o.image_size), "must be >= 0");
  if (o.channels != 0 && o.channels != 1 && o.channels != 3)
    fail("channels", std::to_string(o.channels), "must be 1 or 3 (0: the backbone's)");
}

torch::Tensor labels_of(const FractalDataset& data, const std::vector<int64_t>& indices) {
  std::vector<int64_t> y;
  y.reserve(indices.size());
  for (int64_t i : indices) y.push_back(data.label(i));
  return torch::tensor(y, torch::kLong);
}

// Mean loss and accuracy (%) of `model` over every image of `data`, in eval mode.
std::pair<double, double> evaluate(Classifier& model, const FractalDataset& data,
                                   int64_t batch_size) {
  torch::NoGradGuard no_grad;
  model->eval();
  std::vector<int64_t> all(static_cast<size_t>(data.size()));
  std::iota(all.begin(), all.end(), 0);
  double loss = 0;
  int64_t correct = 0;
  for_each_global_batch(all, batch_size, [&](const std::vector<int64_t>& indices) {
    const auto y = labels_of(data, indices);
    const auto logits = model->forward(data.model_input(data.images(indices)));
    loss += torch::cross_entropy_loss(logits, y, {}, at::Reduction::Sum).item<double>();
    correct += logits.argmax(1).eq(y).sum().item<int64_t>();
  });
  const auto n = static_cast<double>(data.size());
  return {loss / n, 100.0 * static_cast<double>(correct) / n};
}

}  // namespace

std::vector<int64_t> natural_input(const std::string& backbone) {
  for (const auto& preset : vit_presets()) {
    if (preset.name == backbone) {
      const VitOptions o = vit_preset(backbone);
      return {o.in_channels(), o.image_size(), o.image_size()};
    }
  }
  return {1, 28, 28};
}

namespace {

FractalOptions fractal_options(const PretrainOptions& o) {
  const auto input = natural_input(o.backbone);
  FractalOptions fractal;
  fractal.classes = o.classes;
  fractal.image_size = o.image_size > 0 ? o.image_size : input[1];
  fractal.channels = o.channels > 0 ? o.channels : input[0];
  fractal.fill_threshold = o.fill_threshold;
  fractal.seed = o.seed;
  return fractal;
}

// One epoch over the fractal images in a seeded order; `step` counts the optimizer steps.
PretrainEpoch train_epoch(Classifier& model, torch::optim::Optimizer& optimizer,
                          const FractalDataset& data, const PretrainOptions& o,
                          const LrSchedule& schedule, int64_t epoch, int64_t total_steps,
                          int64_t& step) {
  const auto started = Clock::now();
  model->train();
  double loss_sum = 0;
  int64_t correct = 0;
  std::vector<int64_t> all(static_cast<size_t>(data.size()));
  std::iota(all.begin(), all.end(), 0);
  const auto order = shuffled(all, mix_seed({o.seed, static_cast<uint64_t>(epoch)}));
  for_each_global_batch(order, o.batch_size, [&](const std::vector<int64_t>& indices) {
    set_learning_rates(optimizer, {schedule.lr(o.lr, step++, total_steps)});
    const auto y = labels_of(data, indices);
    optimizer.zero_grad();
    const auto logits = model->forward(data.model_input(data.images(indices)));
    const auto loss = torch::cross_entropy_loss(logits, y);
    const double value = loss.item<double>();
    if (!std::isfinite(value)) {
      throw Error("pretrain diverged: loss is " + std::to_string(value) + " in epoch " +
                  std::to_string(epoch + 1) + "; lower --lr");
    }
    loss.backward();
    optimizer.step();
    loss_sum += value * static_cast<double>(indices.size());
    correct += logits.argmax(1).eq(y).sum().item<int64_t>();
  });
  const auto n = static_cast<double>(data.size());
  return {loss_sum / n, 100.0 * static_cast<double>(correct) / n, seconds_since(started)};
}

void save(const PretrainResult& result, const PretrainOptions& o, const FractalOptions& fractal) {
  save_backbone_weights(
      *result.backbone, o.out,
      {{"backbone", o.backbone},
       {"pretrain_data", "fractal (FractalDB-style, Kataoka et al. 2020)"},
       {"classes", std::to_string(o.classes)},
       {"instances", std::to_string(o.instances)},
       {"image_shape", std::to_string(fractal.channels) + "x" + std::to_string(fractal.image_size) +
                           "x" + std::to_string(fractal.image_size)},
       {"fill_threshold", format("%g", o.fill_threshold)},
       {"epochs", std::to_string(o.epochs)},
       {"batch_size", std::to_string(o.batch_size)},
       {"optimizer", o.optimizer},
       {"lr", format("%g", o.lr)},
       {"weight_decay", format("%g", o.weight_decay)},
       {"seed", std::to_string(o.seed)},
       {"cpu_kernels", o.cpu_kernels},
       {"threads", std::to_string(resolve_threads(o.threads))},
       {"train_loss", format("%.6f", result.train_loss)},
       {"train_accuracy", format("%.4f", result.train_accuracy)},
       {"clbench_version", CLBENCH_VERSION}});
}

}  // namespace

PretrainResult pretrain(const PretrainOptions& o,
                        const std::function<void(const std::string&)>& log) {
  check(o);
  if (!o.out.empty()) {  // fail now, not after the training
    check_output(o.out);
    require_writable_folder(std::filesystem::path(o.out).parent_path().string().empty()
                                ? "."
                                : std::filesystem::path(o.out).parent_path().string());
  }
  const auto started = Clock::now();
  auto say = [&](const std::string& line) {
    if (log) log(line);
  };
  apply_cpu_kernels(o.cpu_kernels);
  torch::set_num_threads(resolve_threads(o.threads));
  const FractalOptions fractal = fractal_options(o);
  const FractalDataset data(fractal, o.instances);

  torch::manual_seed(o.seed);
  Classifier model = make_classifier(o.backbone, data.image_shape(), o.classes);
  // SGD with momentum 0.9, or Adam / AdamW (betas 0.9, 0.999).
  auto optimizer =
      make_optimizer({ParamGroup{model->parameters(), std::nullopt, std::nullopt}},
                     {o.optimizer, o.lr, o.optimizer == "sgd" ? 0.9 : 0.0, o.weight_decay});
  const int64_t steps_per_epoch = (data.size() + o.batch_size - 1) / o.batch_size;
  const int64_t total_steps = o.epochs * steps_per_epoch;
  // Linear warm-up (one epoch, at most a tenth of the steps), then cosine decay towards zero, per
  // step: a ViT trained from scratch at a constant Adam rate learns markedly slower.
  LrSchedule schedule;
  schedule.kind = "cosine";
  schedule.per_step = true;
  schedule.warmup = std::max<int64_t>(1, std::min(steps_per_epoch, total_steps / 10));
  say(
      format("pretrain %s on %lld fractal classes x %lld instances (%lldx%lldx%lld), %lld epochs "
             "x %lld steps",
             o.backbone.c_str(), static_cast<long long>(o.classes),
             static_cast<long long>(o.instances), static_cast<long long>(fractal.channels),
             static_cast<long long>(fractal.image_size), static_cast<long long>(fractal.image_size),
             static_cast<long long>(o.epochs), static_cast<long long>(steps_per_epoch)));

  PretrainResult result;
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    result.epochs.push_back(
        train_epoch(model, *optimizer, data, o, schedule, epoch, total_steps, step));
    const auto& e = result.epochs.back();
    say(format("epoch %lld/%lld  loss %.4f  acc %.2f%%  %.1f s", static_cast<long long>(epoch + 1),
               static_cast<long long>(o.epochs), e.loss, e.accuracy, e.seconds));
  }
  std::tie(result.train_loss, result.train_accuracy) = evaluate(model, data, 512);
  result.backbone = model->backbone;
  result.seconds = seconds_since(started);
  say(format("after training: loss %.4f  acc %.2f%% (chance %.2f%%)  %.1f s", result.train_loss,
             result.train_accuracy, 100.0 / static_cast<double>(o.classes), result.seconds));
  if (!o.out.empty()) {
    save(result, o, fractal);
    say("wrote " + o.out);
  }
  return result;
}

}  // namespace clbench
