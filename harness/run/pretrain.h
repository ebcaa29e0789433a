#pragma once
// `clbench pretrain`: supervised pretraining on formula-driven fractal images (Kataoka et al.,
// ACCV 2020; datasets/fractal/fractal.h). A backbone and a temporary linear head learn to tell the
// fractal categories apart with cross-entropy; only the backbone is kept and saved.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "harness/run/cpu_kernels.h"

namespace clbench {

struct BackboneImpl;

struct PretrainOptions {
  std::string backbone = "vit-tiny28";
  int64_t classes = 100;
  int64_t instances = 100;  // per class; rendered again each epoch, never stored
  int64_t image_size = 0;   // 0: the backbone's input (ViT presets) or 28
  int64_t channels = 0;     // 0: the backbone's input (ViT presets) or 1
  double fill_threshold = 0.2;
  int64_t epochs = 18;
  int64_t batch_size = 32;
  double lr = 1e-3;
  std::string optimizer = "adamw";  // sgd (momentum 0.9) | adam | adamw
  double weight_decay = 0;
  uint64_t seed = 0;
  int threads = 0;  // intra-op CPU threads; 0: resolve_threads (harness/run/cpu_kernels.h)
  std::string cpu_kernels = kDefaultCpuKernels;  // harness/run/cpu_kernels.h
  std::string out;  // the backbone's safetensors file; empty: not written
};

struct PretrainEpoch {
  double loss = 0, accuracy = 0, seconds = 0;  // running means over the epoch; accuracy in %
};

struct PretrainResult {
  std::shared_ptr<BackboneImpl> backbone;  // trained, in eval mode
  std::vector<PretrainEpoch> epochs;
  // After training: one pass over the whole set in eval mode.
  double train_loss = 0, train_accuracy = 0;
  double seconds = 0;
};

// Trains and, when options.out is set, writes the backbone with save_backbone_weights
// (atomically; the metadata records the options and the final loss and accuracy). `log` gets one
// line per epoch and a summary. Same options and thread count: same weights.
PretrainResult pretrain(const PretrainOptions& options,
                        const std::function<void(const std::string&)>& log = {});

// The input a backbone is built for: {C, H, W} of a ViT preset, else {1, 28, 28}.
std::vector<int64_t> natural_input(const std::string& backbone);

}  // namespace clbench
