// split-fmnist: Fashion-MNIST (Xiao et al. 2017; IDX files as in Debian's dataset-fashion-mnist)
// as 5 tasks of 2 classes, the split-MNIST protocol (van de Ven et al. 2022).
#include <filesystem>

#include <torch/torch.h>

#include "datasets/benchmarks/registry.h"
#include "datasets/readers/idx.h"
#include "harness/foundation/error.h"

namespace clbench {
namespace {

constexpr const char* kDefaultRoot = "/usr/share/datasets/fashion-mnist";

std::string locate(const std::string& root, const std::string& stem) {
  for (const auto& name : {stem + ".gz", stem}) {
    const auto path = (std::filesystem::path(root) / name).string();
    if (std::filesystem::exists(path)) return path;
  }
  throw Error("missing data file: " + (std::filesystem::path(root) / (stem + ".gz")).string() +
              "\n(Fashion-MNIST: 'apt-get install dataset-fashion-mnist' puts it in " +
              kDefaultRoot + ", or pass --data-root DIR holding the four IDX files)");
}

std::shared_ptr<const Dataset> read_split(const std::string& root, const std::string& prefix) {
  const auto image_path = locate(root, prefix + "-images-idx3-ubyte");
  const auto label_path = locate(root, prefix + "-labels-idx1-ubyte");
  IdxArray images = read_idx(image_path);
  IdxArray labels = read_idx(label_path);
  if (images.dims.size() != 3) throw Error(image_path + ": expected a 3-d IDX image array");
  if (labels.dims.size() != 1) throw Error(label_path + ": expected a 1-d IDX label array");
  if (images.dims[0] != labels.dims[0]) {
    throw Error(image_path + " holds " + std::to_string(images.dims[0]) + " images but " +
                label_path + " holds " + std::to_string(labels.dims[0]) + " labels");
  }
  std::vector<int64_t> y(labels.data.begin(), labels.data.end());
  for (size_t i = 0; i < y.size(); ++i) {
    if (y[i] > 9) {
      throw Error(label_path + ": label " + std::to_string(y[i]) + " of item " + std::to_string(i) +
                  " is outside 0..9");
    }
  }
  auto x = torch::from_blob(images.data.data(), {images.dims[0], 1, images.dims[1], images.dims[2]},
                            torch::kUInt8)
               .clone();
  return std::make_shared<TensorDataset>(std::move(x), std::move(y));
}

TaskStream make_split_fmnist(const Config& cfg) {
  std::string root = cfg.str("data_root");
  if (root.empty()) root = kDefaultRoot;
  auto train = read_split(root, "train");
  auto test = read_split(root, "t10k");
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
