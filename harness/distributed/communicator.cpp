#include "harness/distributed/communicator.h"

#include <torch/torch.h>

#include <algorithm>
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

int Communicator::first_rank_with(bool flag) {
  auto ranks = torch::zeros({size()}, torch::kFloat64);
  ranks[rank()] = flag ? 1.0 : 0.0;
  const auto set = sum(ranks).nonzero();
  return set.numel() == 0 ? -1 : static_cast<int>(set[0].item<int64_t>());
}

std::string Communicator::broadcast_bytes(const std::string& bytes, int root) {
  if (size() == 1) return bytes;
  std::vector<torch::Tensor> length{
      torch::full({1}, static_cast<int64_t>(rank() == root ? bytes.size() : 0), torch::kInt64)};
  broadcast(length, root);
  std::string out = rank() == root ? bytes : std::string(length[0].item<int64_t>(), '\0');
  constexpr size_t kChunk = size_t{1} << 30;  // the transports count elements in an int
  for (size_t at = 0; at < out.size(); at += kChunk) {
    const auto n = static_cast<int64_t>(std::min(kChunk, out.size() - at));
    std::vector<torch::Tensor> chunk{torch::from_blob(out.data() + at, {n}, torch::kUInt8)};
    broadcast(chunk, root);
  }
  return out;
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
