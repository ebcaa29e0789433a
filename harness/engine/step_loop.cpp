#include "harness/engine/step_loop.h"

#include <cmath>

#include <torch/torch.h>

#include "datasets/loader.h"
#include "harness/distributed/communicator.h"
#include "harness/engine/running_statistics.h"
#include "harness/foundation/error.h"
#include "harness/models/batch_norm.h"

namespace clbench {

bool StepControl::stopping(Communicator& comm) const {
  return stop_requested && comm.any(stop_requested());
}

void run_steps(const Steps& s, torch::optim::Optimizer& optimizer, Communicator& comm,
               StepControl& control) {
  const std::function<std::vector<Batch>(int64_t)> load = [&](int64_t k) {
    return s.load(s.first + k);
  };
  int64_t step = s.first;
  const std::function<void(std::vector<Batch>&)> train = [&](std::vector<Batch>& shards) {
    if (s.before_step) s.before_step(step);
    optimizer.zero_grad();
    // Gradients accumulate over this rank's shards in order, then sum over ranks: 1 rank with 2
    // shards adds exactly what 2 ranks add.
    double value = 0;
    for (const Batch& batch : shards) {
      const ShardScope batch_norm_shard(batch.shard);
      auto loss = s.loss(batch);
      const double part = loss.item<double>();
      if (!std::isfinite(part)) {
        throw Error("training diverged: loss is " + std::to_string(part) + " at " + s.where(step) +
                    "; lower the learning rate or the method's penalty strength");
      }
      value += part / s.shard_count;
      // Each shard's mean loss counts 1/shard_count, so the gradients summed over shards and
      // ranks are the global batch's mean gradient (DDP divides the sum instead: the same
      // numbers for power-of-two shard counts, one pass over the gradients less).
      if (s.shard_count > 1) loss = loss * (1.0 / s.shard_count);
      loss.backward();
    }
    const bool stop =
        comm.sum_gradients(s.params, control.stop_requested && control.stop_requested());
    apply_running_statistics(comm, s.shard_count);
    if (s.after_backward) s.after_backward();
    optimizer.step();
    if (s.after_step) s.after_step(step);
    if (s.done) s.done(step, value);
    ++step;
    ++control.steps_done;
    if (stop) {
      if (s.checkpoint) s.checkpoint(step);
      throw Interrupted();
    }
    if (control.checkpoint_every > 0 && control.steps_done % control.checkpoint_every == 0 &&
        s.checkpoint) {
      s.checkpoint(step);
    }
  };
  for_each_prefetched(s.end - s.first, s.prefetch, load, train);
}

}  // namespace clbench
