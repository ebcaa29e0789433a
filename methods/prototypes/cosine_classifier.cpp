#include "methods/prototypes/cosine_classifier.h"

#include <cmath>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "methods/similarity.h"

namespace clbench {

CosineClassifierImpl::CosineClassifierImpl(int64_t classes, int64_t dim, at::Generator& gen) {
  weight = register_parameter("weight", torch::empty({classes, dim}));
  sigma = register_parameter("sigma", torch::ones({1}));
  torch::NoGradGuard no_grad;
  const double bound = 1.0 / std::sqrt(static_cast<double>(dim));
  weight.uniform_(-bound, bound, gen);
}

torch::Tensor CosineClassifierImpl::forward(const torch::Tensor& features) {
  return sigma * cosine_matrix(features, weight);
}

torch::Tensor task_class_means(MethodServices& services, const Task& task, int64_t dim,
                               const std::function<torch::Tensor(const Batch&)>& features) {
  const int64_t first = task.class_begin, classes = task.class_end - task.class_begin;
  const auto sums = services.sum_over_samples(task.train, [&](const Batch& b) {
    torch::NoGradGuard no_grad;
    const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(b.y.device());
    auto sum = torch::zeros({classes, dim}, options);
    auto count = torch::zeros({classes}, options);
    if (b.indices.empty()) return std::vector<torch::Tensor>{sum, count};
    const auto row = b.y - first;
    sum.index_add_(0, row, features(b).to(torch::kFloat32));
    count.index_add_(0, row, torch::ones({row.size(0)}, options));
    return std::vector<torch::Tensor>{sum, count};
  });
  const auto empty = (sums[1] == 0).nonzero();
  if (empty.numel() > 0) {
    throw Error("class " + std::to_string(first + empty[0][0].item<int64_t>()) +
                " has no training sample: it has no prototype");
  }
  return sums[0] / sums[1].unsqueeze(1);
}

nlohmann::json pilot_sgd_setting(int64_t epochs, double lr, int64_t batch, double weight_decay) {
  return {{"epochs", epochs},       {"lr", lr},
          {"batch_size", batch},    {"weight_decay", weight_decay},
          {"optimizer", "sgd"},     {"momentum", 0.9},
          {"lr_schedule", "cosine"}};
}

}  // namespace clbench
