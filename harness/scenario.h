#pragma once
// A task stream: the class order cut into tasks, each with its train and test samples.
// Internally a class is its position in the class order, so task t owns the contiguous label
// range [class_begin, class_end) and "classes seen after task t" is simply [0, class_end).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "datasets/dataset.h"

namespace clbench {

struct Task {
  int index = 0;
  std::vector<int64_t> classes;  // original class ids, in class order
  int64_t class_begin = 0, class_end = 0;
  std::vector<int64_t> train, test;  // sample indices into the stream's train/test datasets
};

struct TaskStream {
  std::string benchmark;
  std::shared_ptr<const Dataset> train_set, test_set;
  std::vector<int64_t> class_order;  // class_order[k] = original id of internal class k
  std::vector<int64_t> to_internal;  // original id -> internal class
  std::vector<Task> tasks;

  int64_t num_classes() const { return static_cast<int64_t>(class_order.size()); }
  int num_tasks() const { return static_cast<int>(tasks.size()); }
  std::vector<int64_t> input_shape() const { return train_set->image_shape(); }
};

// Class-incremental split: the first task takes `first` classes, every later one `increment`
// (PILOT/PyCIL init_cls/increment; a remainder forms a last, smaller task).
TaskStream split_by_class(std::string benchmark, std::shared_ptr<const Dataset> train,
                          std::shared_ptr<const Dataset> test, std::vector<int64_t> class_order,
                          int64_t first, int64_t increment);

// A training/evaluation batch: shard `shard` of `shards` equal parts of a global batch of
// `global_size` samples. `mean` turns per-sample losses into this shard's share of the global mean,
// so averaging the shards' gradients gives exactly the gradient of the whole batch.
struct Batch {
  torch::Tensor x, y;                    // y: internal class ids
  std::optional<uint64_t> augment_seed;  // training batches: their augmentation's seed
  int64_t global_size = 0;
  int shards = 1, shard = 0;
  torch::Tensor mean(const torch::Tensor& per_sample) const;
};

// Loads the given samples of `data` with labels mapped to internal ids: the evaluation view, or
// with `augment_seed` the training view, sample i drawn from mix_seed({augment_seed, i}) (so a
// sample's augmentation does not depend on which rank loads it). The pixels move to `device` and
// become the model's input there (Dataset::model_input).
Batch load_batch(const TaskStream& stream, const Dataset& data, const std::vector<int64_t>& indices,
                 int64_t global_size, int shards = 1, int shard = 0,
                 std::optional<uint64_t> augment_seed = std::nullopt,
                 const torch::Device& device = torch::kCPU);

}  // namespace clbench
