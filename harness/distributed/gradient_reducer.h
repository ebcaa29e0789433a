#pragma once
// Sums gradients over ranks while backward still runs, as PyTorch DDP's reducer does: the
// parameters are cut into buckets of about 25 MB, last parameter first (the order backward
// reaches them); as soon as backward has accumulated every gradient of a bucket, that bucket's
// sum starts (on a GPU, NCCL on its own stream), always in bucket order so every rank starts the
// same sums in the same order. Every element is summed as Communicator::sum_gradients sums it, so
// the numbers are the same bits either way.
#include <cstdint>
#include <memory>
#include <vector>

#include <torch/types.h>

namespace clbench {

class Communicator;
class PendingSum;

class GradientReducer {
 public:
  static constexpr int64_t kBucketBytes = 25 << 20;  // DDP's bucket_cap_mb
  GradientReducer(Communicator& comm, std::vector<torch::Tensor> params,
                  int64_t bucket_bytes = kBucketBytes);
  ~GradientReducer();  // removes its hooks
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Before the step's last backward: buckets start summing as backward completes them. `flag`
  // rides in the last bucket's sum.
  void arm(bool flag);
  // After it: starts the buckets backward left incomplete (parameters without a gradient are
  // skipped, as sum_gradients skips them), waits for every sum and writes the sums into the
  // gradients. Returns how many ranks set `flag`, as sum_gradients does.
  torch::Tensor finish();

  int bucket_count() const { return static_cast<int>(buckets_.size()); }
  int started_during_backward() const { return started_in_backward_; }  // of the last step

 private:
  struct Bucket {
    std::vector<size_t> params;
    size_t ready = 0;
    torch::Tensor flat;  // this step's gradients (and, in the last bucket, the flag)
    std::vector<torch::Tensor> grads;
    std::unique_ptr<PendingSum> pending;
  };
  void accumulated(size_t param);  // called by param's hook once backward has its gradient
  void start(size_t bucket);

  Communicator& comm_;
  std::vector<torch::Tensor> params_;
  std::vector<size_t> bucket_of_;
  std::vector<bool> fired_;
  std::vector<Bucket> buckets_;
  size_t next_ = 0;  // the next bucket to start
  bool armed_ = false, flag_ = false;
  int started_in_backward_ = 0;
};

}  // namespace clbench
