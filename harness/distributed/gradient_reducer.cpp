#include "harness/distributed/gradient_reducer.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>

#include "harness/distributed/communicator.h"

namespace clbench {
namespace {

struct AccumulatedHook : torch::autograd::PostAccumulateGradHook {
  AccumulatedHook(std::function<void()> fn) : fn(std::move(fn)) {}
  void operator()(const torch::autograd::Variable&) override { fn(); }
  std::function<void()> fn;
};

}  // namespace

GradientReducer::GradientReducer(Communicator& comm, std::vector<torch::Tensor> params,
                                 int64_t bucket_bytes)
    : comm_(comm), params_(std::move(params)) {
  bucket_of_.assign(params_.size(), 0);
  fired_.assign(params_.size(), false);
  int64_t bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const auto& p = params_[k];
    const int64_t b = p.numel() * p.element_size();
    const bool same_kind =
        buckets_.empty() ||
        (params_[buckets_.back().params.front()].options().dtype() == p.options().dtype() &&
         params_[buckets_.back().params.front()].device() == p.device());
    if (buckets_.empty() || !same_kind || bytes + b > bucket_bytes) {
      buckets_.emplace_back();
      bytes = 0;
    }
    buckets_.back().params.push_back(k);
    bucket_of_[k] = buckets_.size() - 1;
    bytes += b;
  }
  for (size_t k = 0; k < params_.size(); ++k) {
    if (!params_[k].requires_grad() || !params_[k].is_leaf()) continue;
    torch::autograd::impl::set_post_acc_grad_hooks(
        params_[k], std::make_unique<AccumulatedHook>([this, k] { accumulated(k); }));
  }
}

GradientReducer::~GradientReducer() {
  for (auto& p : params_) {
    if (p.requires_grad() && p.is_leaf())
      torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
  }
}

void GradientReducer::arm(bool flag) {
  armed_ = true;
  flag_ = flag;
  next_ = 0;
  started_in_backward_ = 0;
  std::fill(fired_.begin(), fired_.end(), false);
  for (auto& b : buckets_) b.ready = 0;
}

void GradientReducer::accumulated(size_t param) {
  if (!armed_ || fired_[param]) return;
  fired_[param] = true;
  ++buckets_[bucket_of_[param]].ready;
  while (next_ < buckets_.size() && buckets_[next_].ready == buckets_[next_].params.size()) {
    start(next_++);
    ++started_in_backward_;
  }
}

void GradientReducer::start(size_t index) {
  Bucket& b = buckets_[index];
  b.grads.clear();
  std::vector<torch::Tensor> parts;
  for (size_t k : b.params) {
    const auto& g = params_[k].grad();
    if (!g.defined()) continue;
    b.grads.push_back(g);
    parts.push_back(g.reshape({-1}));
  }
  const bool last = index + 1 == buckets_.size();
  if (last) {
    const auto like =
        parts.empty() ? params_.front().options().dtype(torch::kFloat32) : parts.front().options();
    parts.push_back(torch::full({1}, flag_ ? 1.0 : 0.0, like));
  }
  if (parts.empty()) return;
  b.flat = torch::cat(parts);
  b.pending = comm_.start_sum(b.flat);
}

torch::Tensor GradientReducer::finish() {
  armed_ = false;
  while (next_ < buckets_.size()) start(next_++);
  torch::NoGradGuard no_grad;
  for (auto& b : buckets_) {
    if (!b.pending) continue;
    b.pending->wait();
    int64_t offset = 0;
    for (auto& g : b.grads) {
      g.copy_(b.flat.narrow(0, offset, g.numel()).view_as(g));
      offset += g.numel();
    }
    b.pending.reset();
    b.grads.clear();
  }
  const auto& last = buckets_.back().flat;
  auto flag = last.narrow(0, last.numel() - 1, 1);
  for (auto& b : buckets_) b.flat = torch::Tensor();
  return flag;
}

}  // namespace clbench
