// Mammoth's class-incremental benchmarks of the DER paper (Buzzega et al., NeurIPS 2020;
// aimagelab/mammoth@7ab9db9, the paper's code, and @e75a491, HEAD, with the same values):
// seq-cifar10 (CIFAR-10, 5 tasks x 2 classes) and seq-tinyimagenet (Tiny-ImageNet, 10 tasks x 20),
// identity class order (task t holds the labels [t * inc, (t + 1) * inc)).
//
// Input as Mammoth's transforms: training RandomCrop(side, padding=4) + RandomHorizontalFlip +
// ToTensor + Normalize(the dataset's mean / std), testing ToTensor + Normalize (image_size = the
// native side, test_resize 0: the pixels). Defaults as the DER paper runs them: Mammoth's ResNet-18
// (resnet18-cifar: 3x3 stride-1 stem, no max-pool, width 64), batch 32, plain SGD without
// momentum (models/utils/continual_model.py), 50 epochs on CIFAR-10 and 100 on Tiny-ImageNet
// (utils/best_args.py). The learning rate is the method's (best_args, e.g. 0.03 for DER and DER++
// on both); the default here is that 0.03, and the paper suites set each method's own.
#include "datasets/benchmarks/paper_benchmarks.h"
#include "datasets/benchmarks/registry.h"
#include "datasets/readers/cifar100.h"
#include "datasets/readers/tiny_imagenet.h"

namespace clbench {
namespace {

struct MammothBenchmark {
  std::string name, summary, data_id;
  std::function<ImageSplits(const Config&)> read;
  int64_t side, increment, epochs;
  std::string normalize;
};

std::vector<OptionSpec> mammoth_keys(const MammothBenchmark& b) {
  auto k = image_keys(padded_crop_keys(4), b.normalize);
  set_key_default(k, "image_size", b.side);
  set_key_default(k, "test_resize", 0);
  return k;
}

bool add_mammoth(const MammothBenchmark& b) {
  register_image_data(b.name, {[id = b.data_id](const Config&) { return id; },
                               [id = b.data_id, read = b.read](const Config& cfg) {
                                 ImageSplits s = read(cfg);
                                 s.data_id = id;
                                 return s;
                               }});
  const std::string name = b.name;
  return register_benchmark({name,
                             b.summary,
                             mammoth_keys(b),
                             {{"backbone", "resnet18-cifar"},
                              {"epochs", b.epochs},
                              {"batch_size", 32},
                              {"lr", 0.03},
                              {"momentum", 0.0},
                              {"increment", b.increment}},
                             [name](const Config& cfg) {
                               const ImageSplits s = configured_splits(name, cfg);
                               return configured_stream(name, configured_images(s.train, cfg),
                                                        configured_images(s.test, cfg), cfg,
                                                        s.num_classes);
                             }});
}

ImageSplits read_tiny_imagenet_splits(const Config& cfg) {
  const auto root = require_data_root(cfg, "the folder holding processed/x_train_01.npy ...");
  TinyImagenet t = read_tiny_imagenet(root);
  ImageSplits s;
  s.num_classes = kTinyImagenetClasses;
  for (int64_t c = 0; c < kTinyImagenetClasses; ++c) s.class_names.push_back(std::to_string(c));
  const int64_t side = kTinyImagenetSide;
  s.train = memory_images({std::move(t.train.pixels), std::move(t.train.labels), side, side, false},
                          "train");
  s.test =
      memory_images({std::move(t.test.pixels), std::move(t.test.labels), side, side, false}, "val");
  return s;
}

const bool registered_mammoth = [] {
  // aimagelab/mammoth@7ab9db9:datasets/seq_cifar10.py (SequentialCIFAR10, seq-cifar10)
  add_mammoth({"seq-cifar10",
               "CIFAR-10 (binary), 5 tasks x 2 classes; identity order (Mammoth, DER)", "cifar10",
               read_cifar10_splits, 32, 2, 50, "mammoth-cifar10"});
  // aimagelab/mammoth@7ab9db9:datasets/seq_tinyimagenet.py (SequentialTinyImagenet, seq-tinyimg)
  return add_mammoth({"seq-tinyimagenet",
                      "Tiny-ImageNet (Mammoth's .npy files), 10 tasks x 20 classes; identity "
                      "order (Mammoth, DER)",
                      "tinyimagenet/mammoth", read_tiny_imagenet_splits, 64, 20, 100,
                      "mammoth-tinyimg"});
}();

}  // namespace
}  // namespace clbench
