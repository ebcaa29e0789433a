#include "datasets/fractal/fractal_dataset.h"

#include <cstring>
#include <string>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/hash.h"

namespace clbench {

FractalDataset::FractalDataset(const FractalOptions& options, int64_t instances)
    : set_(options), instances_(instances) {
  if (instances <= 0) {
    throw Error("fractal options: bad instances " + std::to_string(instances) +
                ": must be at least 1 per class");
  }
}

int64_t FractalDataset::checked(int64_t index) const {
  if (index < 0 || index >= size()) {
    throw Error("fractal dataset index " + std::to_string(index) + " out of range 0.." +
                std::to_string(size() - 1));
  }
  return index;
}

int64_t FractalDataset::label(int64_t index) const {
  return checked(index) / instances_;
}

uint64_t FractalDataset::sample_identity(int64_t index) const {
  const int64_t i = checked(index);
  return fnv1a(&i, sizeof i);
}

std::vector<int64_t> FractalDataset::image_shape() const {
  const auto& o = set_.options();
  return {o.channels, o.image_size, o.image_size};
}

torch::Tensor FractalDataset::images(const std::vector<int64_t>& indices) const {
  const auto shape = image_shape();
  auto out = torch::empty({static_cast<int64_t>(indices.size()), shape[0], shape[1], shape[2]},
                          torch::kUInt8);
  const size_t bytes = static_cast<size_t>(shape[0] * shape[1] * shape[2]);
  uint8_t* dst = out.data_ptr<uint8_t>();
  for (size_t k = 0; k < indices.size(); ++k) {
    const int64_t i = checked(indices[k]);
    const auto image = set_.render(i / instances_, i % instances_);
    std::memcpy(dst + k * bytes, image.data(), bytes);
  }
  return out.to(torch::kFloat32).div_(255.0);
}

}  // namespace clbench
