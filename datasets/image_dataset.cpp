#include "datasets/image_dataset.h"

#include <torch/torch.h>

#include "harness/error.h"

namespace clbench {

ImageDataset::ImageDataset(std::shared_ptr<const ImageSource> source, TransformOptions transform,
                           int threads)
    : source_(std::move(source)), transform_(transform), threads_(threads) {}

std::vector<int64_t> ImageDataset::image_shape() const {
  return {3, transform_.size, transform_.size};
}

torch::Tensor ImageDataset::images(const std::vector<int64_t>& indices) const {
  const int64_t n = static_cast<int64_t>(indices.size()), S = transform_.size;
  auto out = torch::empty({n, 3, S, S}, torch::kFloat32);
  float* data = out.data_ptr<float>();
  parallel_for(n, threads_, [&](int64_t i) {
    test_transform(source_->read(indices[i]), transform_, data + i * 3 * S * S);
  });
  return out;
}

torch::Tensor ImageDataset::augmented(const std::vector<int64_t>& indices,
                                      const std::vector<uint64_t>& seeds) const {
  if (seeds.size() != indices.size()) {
    throw Error("ImageDataset::augmented: " + std::to_string(seeds.size()) + " seeds for " +
                std::to_string(indices.size()) + " samples");
  }
  const int64_t n = static_cast<int64_t>(indices.size()), S = transform_.size;
  auto out = torch::empty({n, 3, S, S}, torch::kFloat32);
  float* data = out.data_ptr<float>();
  parallel_for(n, threads_, [&](int64_t i) {
    train_transform(source_->read(indices[i]), transform_, seeds[i], data + i * 3 * S * S);
  });
  return out;
}

}  // namespace clbench
