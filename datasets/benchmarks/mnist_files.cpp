#include "datasets/benchmarks/mnist_files.h"

#include <filesystem>

#include <torch/torch.h>

#include "datasets/readers/idx.h"
#include "harness/foundation/error.h"

namespace clbench {
namespace {

std::string locate(const std::string& root, const std::string& stem, const std::string& hint) {
  for (const auto& name : {stem + ".gz", stem}) {
    const auto path = (std::filesystem::path(root) / name).string();
    if (std::filesystem::exists(path)) return path;
  }
  throw Error("missing data file: " + (std::filesystem::path(root) / (stem + ".gz")).string() +
              "\n(" + hint + ")");
}

}  // namespace

std::shared_ptr<const TensorDataset> read_idx_split(const std::string& root,
                                                    const std::string& prefix,
                                                    const std::string& hint) {
  const auto image_path = locate(root, prefix + "-images-idx3-ubyte", hint);
  const auto label_path = locate(root, prefix + "-labels-idx1-ubyte", hint);
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

}  // namespace clbench
