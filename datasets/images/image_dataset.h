#pragma once
// Images of an ImageSource (files, CIFAR records, the HDF5 cache) as a Dataset: decoded and
// transformed on `threads` threads per batch into uint8 pixels at the transforms' output size
// ({B, 3, S, S} views of HWC memory, the resampler's layout); scaling to float, the layout change
// and mean/std happen in model_input, on the device that trains.
#include <functional>
#include <memory>

#include "datasets/dataset.h"
#include "datasets/images/image_source.h"
#include "datasets/images/transforms.h"

namespace clbench {

class ImageDataset : public Dataset {
 public:
  ImageDataset(std::shared_ptr<const ImageSource> source, TransformOptions transform, int threads);
  int64_t size() const override { return source_->size(); }
  int64_t label(int64_t index) const override { return source_->label(index); }
  std::vector<int64_t> image_shape() const override;       // {3, size, size}
  uint64_t sample_identity(int64_t index) const override;  // its source's name
  // test_transform of each image (datasets/images/transforms.h), uint8
  torch::Tensor images(const std::vector<int64_t>& indices) const override;
  // train_transform of each image from its seed, uint8
  torch::Tensor augmented(const std::vector<int64_t>& indices,
                          const std::vector<uint64_t>& seeds) const override;
  bool augments() const override { return true; }  // its train transform is its own
  // pixels / 255, then (x - mean) / std
  torch::Tensor model_input(const torch::Tensor& pixels) const override;

 private:
  // A batch of the images at `indices`: transform(i, image i, its 3 x size x size output).
  torch::Tensor transformed(
      const std::vector<int64_t>& indices,
      const std::function<void(size_t, const DecodedImage&, uint8_t*)>& transform) const;

  std::shared_ptr<const ImageSource> source_;
  TransformOptions transform_;
  int threads_;
  std::shared_ptr<class BatchBuffers> buffers_;  // recycled batch memory
};

}  // namespace clbench
