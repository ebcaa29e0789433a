#pragma once
// What a memory written from the stream sees of a training step: the shards loss() was given on
// this rank (with per-sample rows such as DER's logits), put together into the whole global batch
// after the step, the same on every rank (MethodServices::gather).
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "datasets/batch.h"
#include "methods/services.h"

namespace clbench {

class StepSamples {
 public:
  void record(const Batch& shard, torch::Tensor rows = {}) {
    shards_.push_back({shard.shard, shard.indices, std::move(rows)});
    global_size_ = shard.global_size;
  }
  // Collective (every rank, once per step, e.g. in after_step); forgets the step.
  GlobalRows gather(MethodServices& services) {
    auto global = services.gather(shards_, global_size_);
    shards_.clear();
    return global;
  }

 private:
  std::vector<ShardRows> shards_;
  int64_t global_size_ = 0;
};

}  // namespace clbench
