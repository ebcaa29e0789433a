// clbench pretrain: a backbone trained on fractal images (FractalDB-style), saved as safetensors.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "harness/cli/command.h"
#include "harness/run/plan.h"
#include "harness/run/pretrain.h"

namespace clbench {

Command add_pretrain(CLI::App& app) {
  auto* pre = app.add_subcommand("pretrain",
                                 "train a backbone on fractal images (FractalDB-style) and save "
                                 "it as safetensors");
  auto o = std::make_shared<PretrainOptions>();
  const auto counted = [&](const char* name, int64_t& value, const char* help, int64_t most) {
    pre->add_option(name, value, help)->capture_default_str()->check(CLI::Range(int64_t{1}, most));
  };
  pre->add_option("--out", o->out, "backbone weights file (.safetensors)")->required();
  pre->add_option("--backbone", o->backbone, "backbone (see clbench list)")->capture_default_str();
  counted("--classes", o->classes, "fractal categories", 100000);
  counted("--instances", o->instances, "images per category", 1000000);
  pre->add_option("--image-size", o->image_size,
                  "image side (0: the backbone's input, 28 for mlp/cnn/*28)")
      ->capture_default_str();
  pre->add_option("--channels", o->channels, "1 or 3 (0: the backbone's input)")
      ->capture_default_str();
  pre->add_option("--fill-threshold", o->fill_threshold, "minimum filling rate of a category")
      ->capture_default_str();
  counted("--epochs", o->epochs, "epochs", 100000);
  counted("--batch-size", o->batch_size, "batch size", 1000000);
  pre->add_option("--lr", o->lr, "peak learning rate (warm-up, then cosine decay)")
      ->capture_default_str();
  pre->add_option("--optimizer", o->optimizer, "adamw | adam | sgd (momentum 0.9)")
      ->capture_default_str();
  pre->add_option("--weight-decay", o->weight_decay, "weight decay")->capture_default_str();
  pre->add_option("--seed", o->seed, "fractal categories, initialisation and order")
      ->capture_default_str();
  pre->add_option("--threads", o->threads, "CPU threads (0: LibTorch's default)")
      ->capture_default_str()
      ->check(CLI::Range(0, static_cast<int>(max_threads())));
  add_cpu_kernels_option(*pre, o->cpu_kernels);
  return {pre, [o](Communicator*) {
            pretrain(*o, [](const std::string& line) {
              std::fprintf(stderr, "%s\n", line.c_str());
              std::fflush(stderr);
            });
            return 0;
          }};
}

}  // namespace clbench
