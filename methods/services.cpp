#include "methods/services.h"

#include <unordered_map>

#include <torch/torch.h>

namespace clbench {

void FrozenOutputs::record(MethodServices& services, const Dataset& train_set,
                           const std::vector<int64_t>& samples, int64_t dim,
                           const Forward& forward) {
  clear();
  if (train_set.augments() || samples.empty()) return;
  table_ = services.sample_rows(samples, dim, forward);
  for (size_t i = 0; i < samples.size(); ++i) row_.emplace(samples[i], static_cast<int64_t>(i));
}

void FrozenOutputs::clear() {
  table_ = torch::Tensor();
  row_.clear();
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
