#pragma once
// The gradients of a step's fixed shards (grad_shards = K) added in one pairwise tree over the
// shard indices, whatever the number of ranks: within a rank a binary counter over its contiguous
// block of shards (a new sum joins the one before it while both cover as many shards), across ranks
// the blocks' sums gathered bit for bit and added by the same counter in rank order. When the block
// size K / ranks is a power of two the tree is the same on 1, 2, 4, ... ranks, so the sums are the
// same bits (left to an all-reduce, each rank adds its block first and the sum over ranks then
// associates differently: K = 4 gave 73.22 on 2 ranks against 73.28 on one).
#include <utility>
#include <vector>

#include <torch/types.h>

namespace clbench {

class Communicator;

class ShardTree {
 public:
  // The next shard's gradients, one tensor per parameter (all of one layout from shard to shard).
  void add(std::vector<torch::Tensor> gradients);
  // The sum of every shard added so far (folded from the last pair to the first); empties the tree.
  std::vector<torch::Tensor> total();

 private:
  std::vector<std::pair<int, std::vector<torch::Tensor>>> stack_;  // (level, partial sum)
};

// The sum over every rank's block of shards (`mine`: this rank's ShardTree total), added in the
// tree over ranks; every rank gets the same bits. Collective.
std::vector<torch::Tensor> sum_blocks_over_ranks(Communicator& comm,
                                                 std::vector<torch::Tensor> mine);

}  // namespace clbench
