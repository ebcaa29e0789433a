// split-fmnist: Fashion-MNIST (Xiao et al. 2017; IDX files as in Debian's dataset-fashion-mnist)
// as 5 tasks of 2 classes, the split-MNIST protocol (van de Ven et al. 2022).
#include "datasets/benchmarks/mnist_files.h"
#include "datasets/benchmarks/registry.h"

namespace clbench {
namespace {

TaskStream make_split_fmnist(const Config& cfg) {
  std::string root = cfg.str("data_root");
  if (root.empty()) root = kFashionMnistRoot;
  auto train = read_idx_split(root, "train", kFashionMnistHint);
  auto test = read_idx_split(root, "t10k", kFashionMnistHint);
  return configured_stream("split-fmnist", train, test, cfg, 10);
}

const bool registered_fashion_mnist =
    register_benchmark({"split-fmnist",
                        "Fashion-MNIST (60k/10k), 5 tasks x 2 classes; IDX files, --data-root",
                        {},
                        {{"backbone", "mlp"},
                         {"epochs", 3},
                         {"lr", 0.01},
                         {"momentum", 0.9},
                         {"batch_size", 128},
                         {"increment", 2}},
                        make_split_fmnist});

}  // namespace
}  // namespace clbench
