#include "harness/engine/shard_tree.h"

#include <torch/torch.h>

#include "harness/distributed/communicator.h"

namespace clbench {
namespace {

std::vector<torch::Tensor> added(const std::vector<torch::Tensor>& left,
                                 const std::vector<torch::Tensor>& right) {
  std::vector<torch::Tensor> sum;
  for (size_t i = 0; i < left.size(); ++i) sum.push_back(left[i] + right[i]);
  return sum;
}

}  // namespace

void ShardTree::add(std::vector<torch::Tensor> gradients) {
  stack_.emplace_back(0, std::move(gradients));
  while (stack_.size() >= 2 && stack_[stack_.size() - 2].first == stack_.back().first) {
    auto right = std::move(stack_.back());
    stack_.pop_back();
    auto& left = stack_.back();
    left.second = added(left.second, right.second);
    ++left.first;
  }
}

std::vector<torch::Tensor> ShardTree::total() {
  while (stack_.size() >= 2) {
    auto right = std::move(stack_.back());
    stack_.pop_back();
    stack_.back().second = added(stack_.back().second, right.second);
  }
  std::vector<torch::Tensor> sum =
      stack_.empty() ? std::vector<torch::Tensor>{} : std::move(stack_.back().second);
  stack_.clear();
  return sum;
}

std::vector<torch::Tensor> sum_blocks_over_ranks(Communicator& comm,
                                                 std::vector<torch::Tensor> mine) {
  std::vector<torch::Tensor> total = std::move(mine);
  if (comm.size() > 1 && !total.empty()) {
    std::vector<torch::Tensor> flat_parts;
    for (const auto& g : total) flat_parts.push_back(g.reshape({-1}));
    const torch::Tensor flat = torch::cat(flat_parts);
    ShardTree ranks;
    for (int r = 0; r < comm.size(); ++r) {  // every rank's block, bit for bit, in rank order
      std::vector<torch::Tensor> block{r == comm.rank() ? flat : torch::empty_like(flat)};
      comm.broadcast(block, r);
      ranks.add(std::move(block));
    }
    const torch::Tensor sum = ranks.total().front();
    int64_t at = 0;
    for (auto& g : total) {  // back into each gradient's own layout (channels_last on a GPU)
      g.copy_(sum.narrow(0, at, g.numel()).view(g.sizes()));
      at += g.numel();
    }
  }
  return total;
}

}  // namespace clbench
