#pragma once
// What every part of one run shares: where it computes, its seed, how the stream is cut into
// steps and how each global batch is cut into gradient shards (this rank computes its own). Built
// once per run (harness/run/session.cpp); the trainer, the services and the method's context refer
// to the same one.
#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace clbench {

struct RunContext {
  torch::Device device = torch::kCPU;
  int64_t seed = 0;
  int64_t epochs = 1;        // per task
  int64_t batch_size = 128;  // global, split over ranks
  int64_t eval_batch_size = 1024;
  int shard_count = 1;            // parts each global batch is cut into (a multiple of the ranks)
  std::vector<int> shards = {0};  // the parts this rank computes
  bool prefetch = true;           // load the next step's shards on a second thread

  // Optimizer steps of one epoch over `samples` training samples (the last batch may be short).
  int64_t steps_per_epoch(int64_t samples) const { return (samples + batch_size - 1) / batch_size; }
  // Optimizer steps of a task of `samples` training samples: epochs x batches.
  int64_t steps_per_task(int64_t samples) const { return epochs * steps_per_epoch(samples); }
};

}  // namespace clbench
