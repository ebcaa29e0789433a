#include "harness/distributed/communicator.h"

#include <torch/torch.h>

#include <cstdlib>

namespace clbench {

bool Communicator::sum_gradients(const std::vector<torch::Tensor>& params, bool flag) {
  if (size() == 1) return flag;
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  // Same dtype and device as the gradients, so the flag joins their bucket.
  const auto like = grads.empty() ? torch::TensorOptions(torch::kFloat32) : grads.front().options();
  grads.push_back(torch::full({1}, flag ? 1.0 : 0.0, like));
  allreduce_sum(grads);
  return grads.back().item<double>() > 0;
}

bool Communicator::any(bool flag) {
  if (size() == 1) return flag;
  return sum(torch::full({1}, flag ? 1.0 : 0.0, torch::kFloat64)).item<double>() > 0;
}

void Communicator::abort(int code) {
  std::exit(code);
}

torch::Tensor Communicator::sum(const torch::Tensor& t) {
  std::vector<torch::Tensor> v{t.clone()};
  allreduce_sum(v);
  return v[0];
}

}  // namespace clbench

#ifndef CLBENCH_WITH_MPI
namespace clbench {
std::unique_ptr<Communicator> make_communicator(int*, char***) {
  return std::make_unique<LocalCommunicator>();
}
}  // namespace clbench
#endif
