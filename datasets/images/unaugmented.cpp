#include "datasets/images/unaugmented.h"

#include <torch/torch.h>

#include <utility>

namespace clbench {
namespace {

class Unaugmented : public Dataset {
 public:
  explicit Unaugmented(std::shared_ptr<const Dataset> inner) : inner_(std::move(inner)) {}
  int64_t size() const override { return inner_->size(); }
  int64_t label(int64_t index) const override { return inner_->label(index); }
  std::vector<int64_t> image_shape() const override { return inner_->image_shape(); }
  uint64_t sample_identity(int64_t index) const override { return inner_->sample_identity(index); }
  torch::Tensor images(const std::vector<int64_t>& indices) const override {
    return inner_->images(indices);
  }
  // augmented(): Dataset's, the evaluation view.
  torch::Tensor model_input(const torch::Tensor& pixels) const override {
    return inner_->model_input(pixels);
  }

 private:
  std::shared_ptr<const Dataset> inner_;
};

}  // namespace

std::shared_ptr<const Dataset> without_augmentation(std::shared_ptr<const Dataset> dataset) {
  return std::make_shared<Unaugmented>(std::move(dataset));
}

}  // namespace clbench
