#include "datasets/images/image_dataset.h"

#include <torch/torch.h>

#include <mutex>
#include <utility>

#include "harness/foundation/error.h"

namespace clbench {

// Freed batch buffers, kept for the next batch of the same size: a batch of 64 images at 224 is
// 9.6 MB, above glibc's mmap threshold, so a fresh tensor per batch is a fresh mapping whose page
// faults cost about as much as transforming the images (measured with float batches: 0.27 ms per
// image).
class BatchBuffers : public std::enable_shared_from_this<BatchBuffers> {
 public:
  torch::Tensor empty(int64_t n, int64_t side) {
    const size_t count = static_cast<size_t>(n * 3 * side * side);
    uint8_t* data = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = free_.begin(); it != free_.end(); ++it) {
        if (it->second == count) {
          data = it->first;
          free_.erase(it);
          break;
        }
      }
    }
    if (data == nullptr) data = new uint8_t[count];
    auto self = shared_from_this();
    return torch::from_blob(
        data, {n, side, side, 3}, [self, count](void* p) { self->give_back(p, count); },
        torch::kUInt8);
  }

  ~BatchBuffers() {
    for (auto& [p, n] : free_) delete[] p;
  }

 private:
  void give_back(void* p, size_t count) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (free_.size() < kKept) {
      free_.emplace_back(static_cast<uint8_t*>(p), count);
    } else {
      delete[] static_cast<uint8_t*>(p);
    }
  }

  static constexpr size_t kKept = 4;  // batches in flight: training, prefetch, replay, evaluation
  std::mutex mutex_;
  std::vector<std::pair<uint8_t*, size_t>> free_;
};

ImageDataset::ImageDataset(std::shared_ptr<const ImageSource> source, TransformOptions transform,
                           int threads)
    : source_(std::move(source)),
      transform_(transform),
      threads_(threads),
      buffers_(std::make_shared<BatchBuffers>()) {}

uint64_t ImageDataset::sample_identity(int64_t index) const {
  const std::string name = source_->name(index);
  return fnv1a(name.data(), name.size());
}

std::vector<int64_t> ImageDataset::image_shape() const {
  return {3, transform_.size, transform_.size};
}

torch::Tensor ImageDataset::transformed(
    const std::vector<int64_t>& indices,
    const std::function<void(size_t, const DecodedImage&, uint8_t*)>& transform) const {
  const int64_t n = static_cast<int64_t>(indices.size()), S = transform_.size;
  auto out = buffers_->empty(n, S);
  uint8_t* data = out.data_ptr<uint8_t>();
  parallel_for(n, threads_, [&](int64_t i) {
    transform(static_cast<size_t>(i), source_->read(indices[i]), data + i * 3 * S * S);
  });
  return out.permute({0, 3, 1, 2});  // {B, 3, S, S} over HWC memory
}

torch::Tensor ImageDataset::images(const std::vector<int64_t>& indices) const {
  return transformed(indices, [this](size_t, const DecodedImage& img, uint8_t* out) {
    test_transform(img, transform_, out);
  });
}

torch::Tensor ImageDataset::augmented(const std::vector<int64_t>& indices,
                                      const std::vector<uint64_t>& seeds) const {
  if (seeds.size() != indices.size()) {
    throw Error("ImageDataset::augmented: " + std::to_string(seeds.size()) + " seeds for " +
                std::to_string(indices.size()) + " samples");
  }
  return transformed(indices, [&](size_t i, const DecodedImage& img, uint8_t* out) {
    train_transform(img, transform_, seeds[i], out);
  });
}

torch::Tensor ImageDataset::model_input(const torch::Tensor& pixels) const {
  auto x = Dataset::model_input(pixels);
  const auto& m = transform_.mean;
  const auto& s = transform_.std;
  if (m == std::array<float, 3>{0, 0, 0} && s == std::array<float, 3>{1, 1, 1}) return x;
  const auto on = torch::TensorOptions().dtype(torch::kFloat32).device(x.device());
  return x.sub_(torch::tensor({m[0], m[1], m[2]}, on).view({1, 3, 1, 1}))
      .div_(torch::tensor({s[0], s[1], s[2]}, on).view({1, 3, 1, 1}));
}

}  // namespace clbench
