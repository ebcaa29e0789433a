#pragma once
// The inner training loop shared by the trainer's tasks and the methods' auxiliary fits. This
// rank's shards of each step's global batch are loaded (the next step's in the background), and
// the step runs in named phases:
//   forward_backward  each shard's loss, back-propagated (gradients accumulate over the shards);
//   reduce            gradients summed over ranks (gradient_sum.h, carrying the stop vote) and
//                     the batch-norm statistics with them;
//   update            the optimizer step (skipped by fp16 on overflow);
//   close_window      every sync_every steps: the losses read and checked, a stop or a periodic
//                     checkpoint written.
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/types.h>

#include "datasets/batch.h"
#include "harness/engine/precision.h"

namespace torch::optim {
class Optimizer;
}

namespace clbench {

class Communicator;
struct RunContext;

// Thrown after the checkpoint when a stop was requested.
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted; checkpoint written, continue with --resume") {}
};

// Thrown where every rank saw a stop request but nothing was saved (an evaluation, a sum over
// samples): the trainer writes the checkpoint of the last consistent point and throws Interrupted.
struct StopRequested : std::runtime_error {
  StopRequested() : std::runtime_error("stop requested") {}
};

// What every loop of a run shares: the stop signal and the checkpoint interval.
struct StepControl {
  // True once this rank was asked to stop (SIGTERM/SIGINT). Polled before each step's gradient
  // all-reduce, which carries it: every rank checkpoints after the same step and throws. Also
  // polled (collectively) between evaluation batches and the batches of a sum over samples.
  std::function<bool()> stop_requested;
  bool stopping(Communicator& comm) const;  // collective: a stop was requested on any rank
  // Runs `work` (a step's forwards and backwards, an evaluation batch) with the stop also polled
  // between the model's blocks where stop_inside_steps applies (one rank): a stop found there
  // throws StepAbandoned (harness/foundation/stop_point.h) out of the half-done work.
  void with_stop_points(Communicator& comm, const std::function<void()>& work) const;
  // One batch of an evaluation or a sum over samples (collective): throws StopRequested if a stop
  // was requested on any rank before it, or (one rank) inside it; the work is done again on resume.
  void stoppable_batch(Communicator& comm, const std::function<void()>& work) const;
  int64_t checkpoint_every = 0;  // also checkpoint every N optimizer steps (0: never mid-phase)
  // Losses stay on the device and are read (and checked to be finite) every N steps, before a
  // checkpoint, and at the end of the loop; progress hears of them then. The stop flags summed
  // with each step's gradients are read with them, so a stop takes effect (on every rank after
  // the same step) at the end of its window.
  int64_t sync_every = 1;
  int64_t steps_done = 0;  // optimizer steps of this process so far, all phases together
  // Each shard's forward and loss (and evaluation's forward) under autocast for bf16 and fp16.
  Precision precision = Precision::kFp32;
  std::shared_ptr<GradScaler> scaler = std::make_shared<GradScaler>();  // enabled for fp16
  bool fused_optimizers = false;  // every loop's optimizer on ATen's fused kernels
  // Gradient buckets are summed over ranks while backward runs (GradientReducer).
  bool overlap_reduction = true;
  // With one rank, the stop is also polled between the model's blocks (forward and backward), and
  // a stop found there abandons the half-done step: the checkpoint is the state before it
  // (harness/foundation/stop_point.h). For the runs of the command line; tests count polls.
  bool stop_inside_steps = false;
  // grad_shards fixed: the shards' gradients are added in one tree over the shard indices
  // (shard_tree.h), the same bits on any number of ranks; no overlap.
  bool shard_tree = false;
};

struct Steps {
  int64_t first = 0, end = 0;                            // global steps [first, end)
  std::function<std::vector<Batch>(int64_t step)> load;  // this rank's shards of a step, in order
  std::function<torch::Tensor(const Batch&)> loss;       // this shard's share of the batch mean
  std::vector<torch::Tensor> params;                     // whose gradients are summed over ranks
  std::function<void(int64_t step)> before_step;         // e.g. the learning rate of the step
  std::function<void()> after_backward;
  std::function<void(int64_t step)> after_step;         // before the step's checkpoint
  std::function<void(int64_t step, double loss)> done;  // progress
  std::function<void(int64_t next_step)> checkpoint;    // resumes at `next_step`
  std::function<std::string(int64_t step)> where;       // "task 2, epoch 1, step 5"
};

// Runs the steps with `optimizer`, the global batch cut into `run`'s shards. A non-finite loss is
// an Error naming where it happened.
void run_steps(const Steps& steps, const RunContext& run, torch::optim::Optimizer& optimizer,
               Communicator& comm, StepControl& control);

}  // namespace clbench
