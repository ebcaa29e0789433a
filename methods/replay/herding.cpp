#include "methods/replay/herding.h"

#include <algorithm>
#include <limits>
#include <map>

#include <torch/torch.h>

namespace clbench {

std::vector<int64_t> herding_order(const torch::Tensor& features, int64_t m) {
  const auto f = features.to(torch::kFloat64);
  const int64_t n = f.size(0);
  const auto mu = f.mean(0);
  auto sum = torch::zeros_like(mu);
  auto taken = torch::zeros({n}, torch::kBool);
  std::vector<int64_t> order;
  for (int64_t k = 1; k <= std::min(m, n); ++k) {
    auto cost = (mu.unsqueeze(0) - (sum.unsqueeze(0) + f) / static_cast<double>(k)).norm(2, 1);
    cost.masked_fill_(taken, std::numeric_limits<double>::infinity());
    const int64_t i = cost.argmin().item<int64_t>();
    order.push_back(i);
    taken[i] = true;
    sum += f[i];
  }
  return order;
}

void herd_task(ClassBalancedMemory& memory, const Task& task,
               const std::function<int64_t(int64_t)>& class_of,
               const std::function<torch::Tensor(const std::vector<int64_t>&)>& features_of) {
  const int64_t quota =
      (memory.capacity() + task.class_end - 1) / std::max<int64_t>(1, task.class_end);
  std::map<int64_t, std::vector<int64_t>> by_class;
  for (int64_t i : task.train) by_class[class_of(i)].push_back(i);
  std::map<int64_t, std::vector<int64_t>> herded;
  for (auto& [c, members] : by_class) {
    for (int64_t k : herding_order(features_of(members), quota))
      herded[c].push_back(members[static_cast<size_t>(k)]);
  }
  memory.update(herded);
}

}  // namespace clbench
