#pragma once
// A training or evaluation batch: shard `shard` of `shards` equal parts of a global batch of
// `global_size` samples. `mean` turns per-sample losses into this shard's share of the global mean,
// so adding the shards' gradients gives exactly the gradient of the whole batch.
#include <cstdint>
#include <optional>
#include <vector>

#include <torch/types.h>

#include "datasets/task_stream.h"

namespace clbench {

// Where a batch of the trainer's loop sits in the stream: the same on every rank and after a
// resume, so a method draws from it what an uninterrupted run draws.
struct StepIndex {
  int task = 0;
  int64_t epoch = 0, step = 0;  // the step within its epoch
  int64_t in_task = 0;          // the task's steps before this one
  int64_t in_stream = 0;        // the stream's training steps before this one
};

struct Batch {
  torch::Tensor x, y;                    // model input and internal class ids, on the device
  std::vector<int64_t> indices;          // the samples of this shard, indices into `data`
  const Dataset* data = nullptr;         // where they come from
  std::optional<uint64_t> augment_seed;  // training batches: their augmentation's seed
  std::optional<int> task;        // evaluation: the samples' task, for methods that may know it
  std::optional<StepIndex> step;  // the trainer's training batches
  int64_t global_size = 0;
  int shards = 1, shard = 0;

  // This shard's share of the global batch's mean of `per_sample` (the trainer averages the
  // shards' losses).
  torch::Tensor mean(const torch::Tensor& per_sample) const;
  // The same share of the global batch's sum (a loss the official code sums over the batch).
  torch::Tensor sum(const torch::Tensor& per_sample) const;
  // The model input of the same samples without augmentation, on x's device (what a replay
  // memory stores).
  torch::Tensor unaugmented() const;
  // `a`'s samples followed by `b`'s, as one shard of a global batch of both global sizes (the
  // same shard of the same data; the augmentation seed is a's).
  static Batch concat(const Batch& a, const Batch& b);
};

// Loads the given samples of `data` with labels mapped to internal ids: the evaluation view, or
// with `augment_seed` the training view, sample i drawn from mix_seed({augment_seed, i}) (so a
// sample's augmentation does not depend on which rank loads it). Pixels and labels move to
// `device`, and the pixels become the model's input there (Dataset::model_input).
Batch load_batch(const TaskStream& stream, const Dataset& data, const std::vector<int64_t>& indices,
                 int64_t global_size, int shards = 1, int shard = 0,
                 std::optional<uint64_t> augment_seed = std::nullopt,
                 const torch::Device& device = torch::kCPU);

}  // namespace clbench
