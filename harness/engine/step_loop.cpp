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
  // This window's losses, still on the device: one read for all of them.
  std::vector<torch::Tensor> losses;
  int64_t window_first = step;
  const auto read_losses = [&] {
    if (losses.empty()) return;
    const auto values = torch::stack(losses).to(torch::kCPU, torch::kFloat64).contiguous();
    const double* v = values.data_ptr<double>();
    const auto n = static_cast<int64_t>(losses.size());
    losses.clear();
    for (int64_t i = 0; i < n; ++i) {
      if (std::isfinite(v[i])) continue;
      std::string read;
      if (n > 1) {
        read = " (losses read after " + s.where(window_first + n - 1) + ", for the steps from " +
               s.where(window_first) + ")";
      }
      throw Error("training diverged: loss is " + std::to_string(v[i]) + " at " +
                  s.where(window_first + i) + read +
                  "; lower the learning rate or the method's penalty strength");
    }
    if (s.done) {
      for (int64_t i = 0; i < n; ++i) s.done(window_first + i, v[i]);
    }
    window_first += n;
  };
  const std::function<void(std::vector<Batch>&)> train = [&](std::vector<Batch>& shards) {
    if (s.before_step) s.before_step(step);
    optimizer.zero_grad();
    // Gradients accumulate over this rank's shards in order, then sum over ranks: 1 rank with 2
    // shards adds exactly what 2 ranks add.
    torch::Tensor value;
    for (const Batch& batch : shards) {
      const ShardScope batch_norm_shard(batch.shard);
      auto loss = s.loss(batch);
      const auto part = loss.detach().to(torch::kFloat64) / s.shard_count;
      value = value.defined() ? value + part : part;
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
    losses.push_back(value);
    ++step;
    ++control.steps_done;
    const bool checkpoint = stop || (control.checkpoint_every > 0 &&
                                     control.steps_done % control.checkpoint_every == 0);
    // A diverged loss is found before anything is saved.
    if (checkpoint ||
        static_cast<int64_t>(losses.size()) >= std::max<int64_t>(1, control.sync_every))
      read_losses();
    if (checkpoint && s.checkpoint) s.checkpoint(step);
    if (stop) throw Interrupted();
  };
  for_each_prefetched(s.end - s.first, s.prefetch, load, train);
  read_losses();
}

}  // namespace clbench
