#pragma once
// The fractal pretraining set (datasets/fractal/fractal.h) as a Dataset: classes x instances
// images, index = category * instances + instance, rendered when a batch asks for them.
#include <cstdint>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/fractal/fractal.h"

namespace clbench {

class FractalDataset : public Dataset {
 public:
  // `instances` per category, at least 1 (else clbench::Error naming it).
  FractalDataset(const FractalOptions& options, int64_t instances);
  int64_t size() const override { return set_.classes() * instances_; }
  int64_t label(int64_t index) const override;             // the category
  uint64_t sample_identity(int64_t index) const override;  // its index
  std::vector<int64_t> image_shape() const override;
  torch::Tensor images(const std::vector<int64_t>& indices) const override;

  const FractalSet& set() const { return set_; }
  int64_t instances() const { return instances_; }

 private:
  int64_t checked(int64_t index) const;

  FractalSet set_;
  int64_t instances_;
};

}  // namespace clbench
