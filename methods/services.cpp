#include "methods/services.h"

#include <unordered_map>

#include <torch/torch.h>

namespace clbench {

torch::Tensor sample_rows(MethodServices& services, const std::vector<int64_t>& samples,
                          int64_t dim, const torch::Device& device,
                          const std::function<torch::Tensor(const Batch&)>& fn) {
  std::unordered_map<int64_t, int64_t> row;
  for (size_t i = 0; i < samples.size(); ++i) row[samples[i]] = static_cast<int64_t>(i);
  const auto n = static_cast<int64_t>(samples.size());
  return services.sum_over_samples(samples, [&](const Batch& b) {
    torch::NoGradGuard no_grad;
    auto table = torch::zeros({n, dim}, torch::dtype(torch::kFloat32).device(device));
    if (b.indices.empty()) return std::vector<torch::Tensor>{table};
    std::vector<int64_t> at;
    for (int64_t s : b.indices) at.push_back(row.at(s));
    table.index_copy_(0, torch::tensor(at, torch::kLong).to(device), fn(b).to(torch::kFloat32));
    return std::vector<torch::Tensor>{table};
  })[0];
}

void FrozenOutputs::record(MethodServices& services, const Dataset& train_set,
                           const std::vector<int64_t>& samples, int64_t dim,
                           const torch::Device& device, const Forward& forward) {
  table_ = torch::Tensor();
  row_.clear();
  if (train_set.augments() || samples.empty()) return;
  table_ = sample_rows(services, samples, dim, device, forward);
  for (size_t i = 0; i < samples.size(); ++i) row_.emplace(samples[i], static_cast<int64_t>(i));
}

torch::Tensor FrozenOutputs::of(const Batch& batch, const Forward& forward) const {
  if (!table_.defined()) {
    torch::NoGradGuard no_grad;
    return forward(batch);
  }
  std::vector<int64_t> rows;
  rows.reserve(batch.indices.size());
  for (int64_t s : batch.indices) rows.push_back(row_.at(s));
  return table_.index_select(0, torch::tensor(rows, torch::kLong).to(table_.device()));
}

}  // namespace clbench
