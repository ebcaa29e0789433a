#include "datasets/dataset.h"

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/hash.h"

namespace clbench {

torch::Tensor Dataset::augmented(const std::vector<int64_t>& indices,
                                 const std::vector<uint64_t>&) const {
  return images(indices);
}

torch::Tensor Dataset::model_input(const torch::Tensor& pixels) const {
  if (pixels.is_floating_point()) return pixels;
  // Contiguous NCHW whatever the pixels' layout (ImageDataset's are HWC underneath).
  return pixels.to(torch::kFloat32, false, false, torch::MemoryFormat::Contiguous).div_(255.0);
}

TensorDataset::TensorDataset(torch::Tensor images_u8, std::vector<int64_t> labels)
    : images_(images_u8.contiguous()), labels_(std::move(labels)) {
  if (images_.dim() != 4 || images_.scalar_type() != torch::kUInt8 ||
      images_.size(0) != static_cast<int64_t>(labels_.size())) {
    throw Error("TensorDataset needs uint8 images {N,C,H,W} and N labels");
  }
}

std::vector<int64_t> TensorDataset::image_shape() const {
  return {images_.size(1), images_.size(2), images_.size(3)};
}

uint64_t TensorDataset::sample_identity(int64_t index) const {
  const auto bytes = static_cast<size_t>(images_.stride(0));  // contiguous: one image's pixels
  return fnv1a(images_.data_ptr<uint8_t>() + static_cast<size_t>(index) * bytes, bytes);
}

torch::Tensor TensorDataset::images(const std::vector<int64_t>& indices) const {
  auto idx = torch::tensor(indices, torch::kLong);
  return images_.index_select(0, idx).to(torch::kFloat32).div_(255.0);
}

}  // namespace clbench
