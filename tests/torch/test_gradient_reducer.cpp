// The overlapped gradient reduction on one rank: buckets start from backward's hooks in bucket
// order, and the gradients come out as backward left them (the sum over one rank). Two ranks:
// tests/mpi/test_distributed.cpp.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "harness/distributed/communicator.h"
#include "harness/distributed/gradient_reducer.h"

namespace clbench {
namespace {

// Counts the sums started, and where.
class CountingCommunicator : public LocalCommunicator {
 public:
  std::unique_ptr<PendingSum> start_sum(const torch::Tensor& flat) override {
    sizes.push_back(flat.numel());
    return Communicator::start_sum(flat);
  }
  std::vector<int64_t> sizes;
};

struct Net {
  torch::nn::Sequential seq{torch::nn::Linear(8, 16), torch::nn::ReLU(), torch::nn::Linear(16, 16),
                            torch::nn::ReLU(), torch::nn::Linear(16, 4)};
  torch::Tensor loss(const torch::Tensor& x) { return seq->forward(x).pow(2).mean(); }
};

TEST(GradientReducer, BucketsStartDuringBackwardInOrderAndLeaveTheGradientsExact) {
  torch::manual_seed(0);
  Net net;
  const auto params = net.seq->parameters();
  const auto x = torch::randn({5, 8});
  net.loss(x).backward();
  std::vector<torch::Tensor> plain;
  for (const auto& p : params) plain.push_back(p.grad().clone());
  for (auto& p : net.seq->parameters()) p.mutable_grad() = torch::Tensor();

  CountingCommunicator comm;
  // 300 bytes: the last layer's 16x4 weight and bias alone, then one bucket per tensor or two.
  GradientReducer reducer(comm, params, 300);
  EXPECT_GT(reducer.bucket_count(), 3);
  for (bool flag : {false, true}) {
    for (auto& p : net.seq->parameters()) p.mutable_grad() = torch::Tensor();
    comm.sizes.clear();
    reducer.arm(flag);
    net.loss(x).backward();
    EXPECT_EQ(reducer.started_during_backward(), reducer.bucket_count());
    EXPECT_EQ(reducer.finish().item<double>() > 0, flag);
    ASSERT_EQ(static_cast<int>(comm.sizes.size()), reducer.bucket_count());
    EXPECT_EQ(comm.sizes.front(), 16 * 4 + 4);  // last parameters first
    int64_t total = 0;
    for (int64_t n : comm.sizes) total += n;
    int64_t expected = 1;  // the flag
    for (const auto& p : params) expected += p.numel();
    EXPECT_EQ(total, expected);
    for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(params[i].grad().equal(plain[i])) << i;
  }
}

TEST(GradientReducer, ABucketBackwardLeavesIncompleteStartsAfterItSkippingMissingGradients) {
  torch::manual_seed(0);
  Net net;
  auto unused = torch::zeros({3}, torch::requires_grad());
  auto params = net.seq->parameters();
  params.insert(params.begin(), unused);  // reached last, never by backward
  CountingCommunicator comm;
  GradientReducer reducer(comm, params, 1 << 20);  // one bucket
  ASSERT_EQ(reducer.bucket_count(), 1);
  reducer.arm(false);
  net.loss(torch::randn({5, 8})).backward();
  EXPECT_EQ(reducer.started_during_backward(), 0);
  EXPECT_EQ(reducer.finish().item<double>(), 0.0);
  int64_t expected = 1;
  for (const auto& p : net.seq->parameters()) expected += p.numel();
  EXPECT_EQ(comm.sizes, std::vector<int64_t>{expected});
  EXPECT_FALSE(unused.grad().defined());
}

TEST(GradientReducer, HooksOnlyCountWhileArmedAndAreRemovedWithTheReducer) {
  torch::manual_seed(0);
  Net net;
  CountingCommunicator comm;
  {
    GradientReducer reducer(comm, net.seq->parameters(), 300);
    net.loss(torch::randn({5, 8})).backward();  // not armed: an earlier shard's backward
    EXPECT_TRUE(comm.sizes.empty());
  }
  net.loss(torch::randn({5, 8})).backward();  // no reducer left to call
  EXPECT_TRUE(comm.sizes.empty());
}

}  // namespace
}  // namespace clbench
