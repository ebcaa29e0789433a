#include "harness/distributed/communicator.h"

#include <torch/torch.h>

#include <cstdlib>

namespace clbench {

torch::Tensor Communicator::sum_gradients(const std::vector<torch::Tensor>& params, bool flag) {
  if (size() == 1) return torch::full({1}, flag ? 1.0 : 0.0);
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  // Same dtype and device as the gradients, so the flag joins their bucket.
  const auto like = grads.empty() ? torch::TensorOptions(torch::kFloat32) : grads.front().options();
  grads.push_back(torch::full({1}, flag ? 1.0 : 0.0, like));
  allreduce_sum(grads);
  return grads.back();
}

namespace {

class DeferredSum : public PendingSum {
 public:
  DeferredSum(Communicator& comm, torch::Tensor flat) : comm_(comm), flat_(std::move(flat)) {}
  void wait() override {
    std::vector<torch::Tensor> v{flat_};
    comm_.allreduce_sum(v);
  }

 private:
  Communicator& comm_;
  torch::Tensor flat_;
};

}  // namespace

std::unique_ptr<PendingSum> Communicator::start_sum(const torch::Tensor& flat) {
  return std::make_unique<DeferredSum>(*this, flat);
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
