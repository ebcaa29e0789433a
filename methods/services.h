#pragma once
// What the harness does for a method, so that no method re-derives plumbing. Every service is
// rank-aware and deterministic: it gives the same numbers on any number of ranks, and with
// grad_shards set the same bits (the work is cut into the run's fixed shards and summed in shard
// order).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <torch/types.h>

#include "datasets/batch.h"
#include "datasets/dataset.h"
#include "methods/optimization.h"

namespace clbench {

// An auxiliary training phase (a warm-up, a generator, a classifier alignment) run through the
// trainer's own step loop: sharded over ranks, gradients summed, stopped by SIGTERM and
// checkpointed like the main loop, and resumed at the step where it stopped.
struct FitSpec {
  std::string name;              // names the phase in checkpoints, e.g. "drs-warmup"
  std::vector<int64_t> samples;  // training samples; step k's global batch is the next
  int64_t steps = 0;             // `batch_size` of them, cycling through the list
  int64_t batch_size = 0;
  bool augment = false;  // the training transform (seeded by run, task, fit, step)
  std::vector<ParamGroup> params;
  OptimizerSpec optimizer;
  std::function<torch::Tensor(const Batch&)> loss;  // this shard's share of the batch mean
  // false: `samples` are ids of rows the method holds (stored features, draws from stored
  // statistics), cut into shards alike; the batches carry only them (Batch::indices), no images.
  bool images = true;
  // Each group's learning rate at step k is its own times lr_factor(k) (null: constant).
  std::function<double(int64_t step)> lr_factor;
};

// Per-batch sums over samples: returns tensors of fixed shapes (the same for every batch). It must
// accept a batch of no samples (a shard is empty when there are fewer samples than shards).
using SampleSum = std::function<std::vector<torch::Tensor>(const Batch&)>;
// Which samples a sum runs over: the training set, or the test set (only for what a method's
// paper explicitly selects on test data, behind an opt-in key).
enum class SampleSet { kTrain, kTest };
using LossFn = std::function<torch::Tensor(const Batch&)>;

// What one of this rank's shards of a global batch computed per sample (as loss() saw the shard:
// Batch::shard and Batch::indices), e.g. DER's logits. `rows` has one row per sample (also for a
// shard of no samples), or is undefined on every shard when only the samples are wanted.
struct ShardRows {
  int shard = 0;
  std::vector<int64_t> indices;
  torch::Tensor rows;
};
// A whole global batch: its samples and their rows in the global batch's order.
struct GlobalRows {
  std::vector<int64_t> indices;
  torch::Tensor rows;  // {global size, ...} float32, on the device; undefined if none were given
};

class MethodServices {
 public:
  virtual ~MethodServices() = default;

  // Shard `shard` (of the run's shard count, as in Batch::shard) of the global list `samples` of
  // training samples, on the training device; augmented when a seed is given.
  virtual Batch load(const std::vector<int64_t>& samples, int shard,
                     std::optional<uint64_t> augment_seed = std::nullopt) = 0;

  // sum over `samples` (of the training set, or of the test set with kTest; not augmented) of
  // fn(batch), in eval mode: each rank runs
  // its shards in batches of `batch_size` samples (0: the evaluation batch size), and the shards'
  // sums are added in shard order on every rank (EWC's Fisher, class means, InfLoRA's input
  // moments, herding features).
  virtual std::vector<torch::Tensor> sum_over_samples(const std::vector<int64_t>& samples,
                                                      const SampleSum& fn, int64_t batch_size = 0,
                                                      SampleSet set = SampleSet::kTrain) = 0;

  // fn(batch) {B, dim} for each of `samples` (training set, not augmented, eval mode, no
  // gradients): row i for samples[i], {n, dim} float32 on the run's device, the same on every rank.
  // Each rank writes its shards' rows into one table of zeros and the tables are summed over ranks,
  // so every row is exactly its sample's (herding features, class statistics, recorded outputs).
  virtual torch::Tensor sample_rows(const std::vector<int64_t>& samples, int64_t dim,
                                    const std::function<torch::Tensor(const Batch&)>& fn) = 0;

  // sum_over_samples inside a training step (a loss or an after_backward, e.g. GEM's per-task
  // memory gradients): the step is the stop point, so no batch of the sum is one.
  virtual std::vector<torch::Tensor> step_sum_over_samples(const std::vector<int64_t>& samples,
                                                           const SampleSum& fn) = 0;

  // The gradient of the mean of `loss` over `samples` (one global batch, not augmented) for each
  // of `params`, summed over ranks, without touching the parameters' own .grad (A-GEM's
  // reference gradient, GEM's per-task gradients).
  virtual std::vector<torch::Tensor> gradients(const std::vector<int64_t>& samples,
                                               const LossFn& loss,
                                               const std::vector<torch::Tensor>& params) = 0;

  // Every shard's ShardRows of one training step, put together in the global batch's order on
  // every rank (collective: every rank calls it once for the step, with its own shards, e.g. in
  // after_step). What a memory written from the stream needs (reservoir sampling, ring buffers,
  // logits at insertion), the same on any number of ranks.
  virtual GlobalRows gather(const std::vector<ShardRows>& mine, int64_t global_size) = 0;

  // Runs an auxiliary training phase (FitSpec) in train mode; returns when its last step is done.
  virtual void fit(const FitSpec& spec) = 0;
};

// A frozen network's outputs on the samples a task trains on, computed once before it trains where
// the training view of a sample is its evaluation view (Li & Hoiem 2017, Alg. 1: "Y_o <- CNN(X_n,
// theta_s, theta_o)", as Mammoth's lwf.py records them), instead of at every step of every epoch;
// per batch where the data are augmented. The rows come from sample_rows, so they are the same on
// any number of ranks and after a resume (begin_task records them again).
class FrozenOutputs {
 public:
  using Forward = std::function<torch::Tensor(const Batch&)>;  // {B, dim}, no gradients needed
  void record(MethodServices& services, const Dataset& train_set,
              const std::vector<int64_t>& samples, int64_t dim, const Forward& forward);
  // The outputs for the batch's samples: the recorded rows, or forward(batch).
  torch::Tensor of(const Batch& batch, const Forward& forward) const;
  bool recorded() const { return table_.defined(); }
  void clear();

 private:
  torch::Tensor table_;
  std::unordered_map<int64_t, int64_t> row_;
};

}  // namespace clbench
