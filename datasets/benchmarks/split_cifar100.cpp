// split-cifar100-20: CIFAR-100 as 20 tasks of 5 classes, task-IL, the protocol of GEM (Lopez-Paz &
// Ranzato 2017) and A-GEM (Chaudhry et al., ICLR 2019).
//
// Class order: identity. Neither paper states it; GEM's official code
// (facebookresearch/GradientEpisodicMemory, data/cifar100.py with --n_tasks 20 in
// run_experiments.sh) gives task t the fine labels [5t, 5t + 5) of the cifar-100-python pickle,
// whose fine-label indices are the binary version's (both list the classes in the order of
// meta / fine_label_names: https://www.cs.toronto.edu/~kriz/cifar.html).
// Input: GEM feeds the raw 32 x 32 pixels / 255, no augmentation, no mean/std: here image_size 32,
// test_resize 0 (Resize((32, 32)) of a 32 x 32 image: the pixels), augment none, normalize none.
// Training defaults as GEM's run_experiments.sh runs GEM on CIFAR: one epoch, batch 10, plain SGD,
// lr 0.1, on GEM's reduced ResNet-18 (nf = 20: resnet18-reduced).
#include "datasets/benchmarks/paper_benchmarks.h"
#include "datasets/benchmarks/registry.h"

namespace clbench {
namespace {

constexpr const char* kSplitCifarName = "split-cifar100-20";

std::vector<OptionSpec> split_cifar_keys() {
  auto k = image_keys({augment_key("none")}, "none");
  set_key_default(k, "image_size", 32);
  set_key_default(k, "test_resize", 0);
  return k;
}

TaskStream make_split_cifar(const Config& cfg) {
  const ImageSplits s = configured_splits(kSplitCifarName, cfg);
  return configured_stream(kSplitCifarName, configured_images(s.train, cfg),
                           configured_images(s.test, cfg), cfg, s.num_classes);
}

const bool registered_split_cifar100 = [] {
  register_image_data(kSplitCifarName, {[](const Config&) { return std::string("cifar100"); },
                                        [](const Config& cfg) {
                                          ImageSplits s = read_cifar100_splits(cfg);
                                          s.data_id =
                                              "cifar100";  // a cache of cifar100-10 serves here too
                                          return s;
                                        }});
  return register_benchmark({kSplitCifarName,
                             "CIFAR-100 (binary), 20 tasks x 5 classes, task-IL (GEM, A-GEM); "
                             "identity order, raw 32x32 pixels",
                             split_cifar_keys(),
                             {{"backbone", "resnet18-reduced"},
                              {"scenario", "task-il"},
                              {"epochs", 1},
                              {"batch_size", 10},
                              {"lr", 0.1},
                              {"momentum", 0.0},
                              {"increment", 5}},
                             make_split_cifar});
}();

}  // namespace
}  // namespace clbench
