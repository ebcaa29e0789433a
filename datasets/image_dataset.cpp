#include "datasets/image_dataset.h"

#include <torch/torch.h>

#include <mutex>
#include <utility>

#include "harness/error.h"

namespace clbench {

// Freed batch buffers, kept for the next batch of the same size: a batch of 64 images at 224 is
// 38.5 MB, above glibc's mmap threshold, so a fresh tensor per batch is a fresh mapping whose page
// faults cost about as much as transforming the images (measured: 0.27 ms per image).
class BatchBuffers : public std::enable_shared_from_this<BatchBuffers> {
 public:
  torch::Tensor empty(int64_t n, int64_t side) {
    const size_t count = static_cast<size_t>(n * 3 * side * side);
    float* data = nullptr;
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
    if (data == nullptr) data = new float[count];
    auto self = shared_from_this();
    return torch::from_blob(
        data, {n, 3, side, side}, [self, count](void* p) { self->give_back(p, count); },
        torch::kFloat32);
  }

  ~BatchBuffers() {
    for (auto& [p, n] : free_) delete[] p;
  }

 private:
  void give_back(void* p, size_t count) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (free_.size() < kKept) {
      free_.emplace_back(static_cast<float*>(p), count);
    } else {
      delete[] static_cast<float*>(p);
    }
  }

  static constexpr size_t kKept = 4;  // batches in flight: training, prefetch, replay, evaluation
  std::mutex mutex_;
  std::vector<std::pair<float*, size_t>> free_;
};

ImageDataset::ImageDataset(std::shared_ptr<const ImageSource> source, TransformOptions transform,
                           int threads)
    : source_(std::move(source)),
      transform_(transform),
      threads_(threads),
      buffers_(std::make_shared<BatchBuffers>()) {}

std::vector<int64_t> ImageDataset::image_shape() const {
  return {3, transform_.size, transform_.size};
}

torch::Tensor ImageDataset::transformed(
    const std::vector<int64_t>& indices,
    const std::function<void(size_t, const DecodedImage&, float*)>& transform) const {
  const int64_t n = static_cast<int64_t>(indices.size()), S = transform_.size;
  auto out = buffers_->empty(n, S);
  float* data = out.data_ptr<float>();
  parallel_for(n, threads_, [&](int64_t i) {
    transform(static_cast<size_t>(i), source_->read(indices[i]), data + i * 3 * S * S);
  });
  return out;
}

torch::Tensor ImageDataset::images(const std::vector<int64_t>& indices) const {
  return transformed(indices, [this](size_t, const DecodedImage& img, float* out) {
    test_transform(img, transform_, out);
  });
}

torch::Tensor ImageDataset::augmented(const std::vector<int64_t>& indices,
                                      const std::vector<uint64_t>& seeds) const {
  if (seeds.size() != indices.size()) {
    throw Error("ImageDataset::augmented: " + std::to_string(seeds.size()) + " seeds for " +
                std::to_string(indices.size()) + " samples");
  }
  return transformed(indices, [&](size_t i, const DecodedImage& img, float* out) {
    train_transform(img, transform_, seeds[i], out);
  });
}

}  // namespace clbench
