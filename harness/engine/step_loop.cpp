#include "harness/engine/step_loop.h"

#include <cmath>
#include <optional>

#include <torch/torch.h>

#include "datasets/loader.h"
#include "harness/distributed/communicator.h"
#include "harness/engine/gradient_sum.h"
#include "harness/engine/running_statistics.h"
#include "harness/foundation/error.h"
#include "harness/foundation/stop_point.h"
#include "harness/models/batch_norm.h"
#include "methods/run_context.h"

namespace clbench {

bool StepControl::stopping(Communicator& comm) const {
  return stop_requested && comm.any(stop_requested());
}

void StepControl::with_stop_points(Communicator& comm, const std::function<void()>& work) const {
  // Several ranks never leave a step alone: the others would wait for them in a collective.
  if (!stop_inside_steps || !stop_requested || comm.size() != 1 || stop_points_open()) {
    work();
    return;
  }
  const StopPoints points(stop_requested);
  try {
    work();
  } catch (...) {
    if (!points.abandoned()) throw;
    throw StepAbandoned();  // whatever type autograd re-threw it as
  }
}

void StepControl::stoppable_batch(Communicator& comm, const std::function<void()>& work) const {
  if (stopping(comm)) throw StopRequested();
  try {
    with_stop_points(comm, work);
  } catch (const StepAbandoned&) {
    throw StopRequested();
  }
}

namespace {

// One loop of steps. Each step is four phases: forward and backward of this rank's shards, the
// sum over ranks, the update, and (every sync_every steps) closing the window of losses.
class StepLoop {
 public:
  StepLoop(const Steps& steps, const RunContext& run, torch::optim::Optimizer& optimizer,
           Communicator& comm, StepControl& control)
      : s_(steps),
        run_(run),
        optimizer_(optimizer),
        comm_(comm),
        control_(control),
        sum_(make_gradient_sum(comm, steps.params, control)),
        step_(steps.first),
        window_first_(steps.first) {}

  void run() {
    const std::function<std::vector<Batch>(int64_t)> load = [&](int64_t k) {
      return s_.load(s_.first + k);
    };
    const std::function<void(std::vector<Batch>&)> step = [&](std::vector<Batch>& shards) {
      train(shards);
    };
    for_each_prefetched(s_.end - s_.first, run_.prefetch, load, step);
    close_window(/*last=*/true);
  }

 private:
  void train(const std::vector<Batch>& shards) {
    if (s_.before_step) s_.before_step(step_);
    optimizer_.zero_grad();
    const bool stop = control_.stop_requested && control_.stop_requested();
    if (stop) {
      forward_backward(shards, stop);  // the stop rides with this step's gradients
    } else {
      try {
        control_.with_stop_points(comm_, [&] { forward_backward(shards, stop); });
      } catch (const StepAbandoned&) {
        abandon();
      }
    }
    reduce(stop);
    update();
    // Shown and checked as the mean of this rank's shards' losses: on several ranks the same
    // scale as on one (this rank's part of the global mean would be 1/ranks of it).
    losses_.push_back(step_loss_ *
                      (static_cast<double>(run_.shard_count) / static_cast<double>(shards.size())));
    ++step_;
    ++control_.steps_done;
    close_window(/*last=*/false);
  }

  // Phase 1. Gradients accumulate over this rank's shards in order, then sum over ranks: 1 rank
  // with 2 shards adds exactly what 2 ranks add.
  void forward_backward(const std::vector<Batch>& shards, bool stop) {
    const int K = run_.shard_count;
    step_loss_ = torch::Tensor();
    for (size_t i = 0; i < shards.size(); ++i) {
      const Batch& batch = shards[i];
      const ShardScope batch_norm_shard(batch.shard);
      torch::Tensor loss;
      {
        const AutocastScope autocast(control_.precision, run_.device.type());
        loss = s_.loss(batch);
      }
      const auto part = loss.detach().to(torch::kFloat64) / K;
      step_loss_ = step_loss_.defined() ? step_loss_ + part : part;
      // Each shard's mean loss counts 1/K, so the gradients summed over shards and ranks are the
      // global batch's mean gradient (DDP divides the sum instead: the same numbers for
      // power-of-two shard counts, one pass over the gradients less).
      if (K > 1) loss = loss * (1.0 / K);
      if (i + 1 == shards.size()) sum_->before_last_backward(stop);
      control_.scaler->scale(loss).backward();
      sum_->after_shard_backward();
    }
  }

  // A stop inside phase 1: nothing of the half-done step is kept, the checkpoint is the state
  // before it.
  [[noreturn]] void abandon() {
    optimizer_.zero_grad();
    sum_->abandon();
    take_running_updates();
    read_losses();
    if (s_.checkpoint) s_.checkpoint(step_);
    throw Interrupted();
  }

  // Phase 2: the sums over ranks, of the gradients (with this rank's stop vote) and of the
  // batch-norm statistics.
  void reduce(bool stop) {
    stop_votes_.push_back(sum_->finish(stop));
    apply_running_statistics(comm_, run_.shard_count);
  }

  // Phase 3. fp16: a step whose gradients overflowed is skipped (the scale was lowered).
  void update() {
    if (control_.scaler->unscale_and_update(s_.params)) {
      if (s_.after_backward) s_.after_backward();
      optimizer_.step();
    }
    if (s_.after_step) s_.after_step(step_);
  }

  // Phase 4, every sync_every steps, before a periodic checkpoint and after the last step: the
  // window's losses and stop votes are read (every rank reads the same sums after the same step),
  // a diverged loss is reported before anything is saved, and a stop checkpoints and throws.
  void close_window(bool last) {
    const bool periodic = !last && control_.checkpoint_every > 0 &&
                          control_.steps_done % control_.checkpoint_every == 0;
    const auto window = static_cast<int64_t>(losses_.size());
    if (!last && !periodic && window < std::max<int64_t>(1, control_.sync_every)) return;
    const bool stop = read_stop();
    read_losses();
    if ((stop || periodic) && s_.checkpoint) s_.checkpoint(step_);
    if (stop) throw Interrupted();
  }

  bool read_stop() {
    if (stop_votes_.empty()) return false;
    const bool any = torch::cat(stop_votes_).sum().item<double>() > 0;
    stop_votes_.clear();
    return any;
  }

  // The window's losses, still on the device: one read for all of them.
  void read_losses() {
    if (losses_.empty()) return;
    const auto values = torch::stack(losses_).to(torch::kCPU, torch::kFloat64).contiguous();
    const double* v = values.data_ptr<double>();
    const auto n = static_cast<int64_t>(losses_.size());
    losses_.clear();
    for (int64_t i = 0; i < n; ++i) {
      if (std::isfinite(v[i])) continue;
      std::string read;
      if (n > 1) {
        read = " (losses read after " + s_.where(window_first_ + n - 1) + ", for the steps from " +
               s_.where(window_first_) + ")";
      }
      throw Error("training diverged: loss is " + std::to_string(v[i]) + " at " +
                  s_.where(window_first_ + i) + read +
                  "; lower the learning rate or the method's penalty strength");
    }
    if (s_.done) {
      for (int64_t i = 0; i < n; ++i) s_.done(window_first_ + i, v[i]);
    }
    window_first_ += n;
  }

  const Steps& s_;
  const RunContext& run_;
  torch::optim::Optimizer& optimizer_;
  Communicator& comm_;
  StepControl& control_;
  std::unique_ptr<GradientSum> sum_;
  int64_t step_;                           // the global step being trained
  torch::Tensor step_loss_;                // its loss, summed over this rank's shards
  std::vector<torch::Tensor> losses_;      // the window's losses, on the device
  std::vector<torch::Tensor> stop_votes_;  // how many ranks asked to stop, per step of the window
  int64_t window_first_;                   // the window's first step
};

}  // namespace

void run_steps(const Steps& steps, const RunContext& run, torch::optim::Optimizer& optimizer,
               Communicator& comm, StepControl& control) {
  StepLoop(steps, run, optimizer, comm, control).run();
}

}  // namespace clbench
