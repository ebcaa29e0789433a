#include "harness/engine/step_loop.h"

#include <cmath>
#include <optional>

#include <torch/torch.h>

#include "datasets/loader.h"
#include "harness/distributed/communicator.h"
#include "harness/distributed/gradient_reducer.h"
#include "harness/engine/running_statistics.h"
#include "harness/engine/shard_tree.h"
#include "harness/foundation/error.h"
#include "harness/foundation/stop_point.h"
#include "harness/models/batch_norm.h"

namespace clbench {

namespace {

// This shard's gradients, taken out of the parameters (zeros where it gave none, noted in
// `has_gradient`), so the next shard's backward starts from none.
std::vector<torch::Tensor> take_gradients(const std::vector<torch::Tensor>& params,
                                          std::vector<double>& has_gradient) {
  std::vector<torch::Tensor> gradients;
  for (size_t i = 0; i < params.size(); ++i) {
    auto& grad = params[i].mutable_grad();
    if (grad.defined()) {
      has_gradient[i] = 1.0;
      gradients.push_back(grad);
      grad = torch::Tensor();
    } else {
      gradients.push_back(torch::zeros_like(params[i]));
    }
  }
  return gradients;
}

}  // namespace

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
  // How many ranks asked to stop at each step of the window, still on the device.
  std::vector<torch::Tensor> stop_votes;
  const auto read_stop = [&] {
    if (stop_votes.empty()) return false;
    const bool any = torch::cat(stop_votes).sum().item<double>() > 0;
    stop_votes.clear();
    return any;
  };
  std::optional<GradientReducer> reducer;
  if (control.overlap_reduction && !control.shard_tree && comm.size() > 1 && !s.params.empty())
    reducer.emplace(comm, s.params);
  GradScaler& scaler = *control.scaler;
  const std::function<void(std::vector<Batch>&)> train = [&](std::vector<Batch>& shards) {
    if (s.before_step) s.before_step(step);
    optimizer.zero_grad();
    const bool asked_to_stop = control.stop_requested && control.stop_requested();
    // Gradients accumulate over this rank's shards in order, then sum over ranks: 1 rank with 2
    // shards adds exactly what 2 ranks add.
    torch::Tensor value;
    ShardTree tree;
    std::vector<double> has_gradient(s.params.size(), 0.0);
    const auto forward_backward = [&] {
      for (size_t i = 0; i < shards.size(); ++i) {
        const Batch& batch = shards[i];
        const ShardScope batch_norm_shard(batch.shard);
        torch::Tensor loss;
        {
          const AutocastScope autocast(control.precision, batch.x.device().type());
          loss = s.loss(batch);
        }
        const auto part = loss.detach().to(torch::kFloat64) / s.shard_count;
        value = value.defined() ? value + part : part;
        // Each shard's mean loss counts 1/shard_count, so the gradients summed over shards and
        // ranks are the global batch's mean gradient (DDP divides the sum instead: the same
        // numbers for power-of-two shard counts, one pass over the gradients less).
        if (s.shard_count > 1) loss = loss * (1.0 / s.shard_count);
        if (reducer && i + 1 == shards.size()) reducer->arm(asked_to_stop);
        scaler.scale(loss).backward();
        if (control.shard_tree) tree.add(take_gradients(s.params, has_gradient));
      }
    };
    if (asked_to_stop) {
      forward_backward();  // the stop rides with this step's gradients
    } else {
      try {
        control.with_stop_points(comm, forward_backward);
      } catch (const StepAbandoned&) {
        // Nothing of the half-done step is kept: the checkpoint is the state before it.
        optimizer.zero_grad();
        take_running_updates();
        read_losses();
        if (s.checkpoint) s.checkpoint(step);
        throw Interrupted();
      }
    }
    if (control.shard_tree) {
      // Which parameters got a gradient on some rank, and the stop votes: one small sum.
      has_gradient.push_back(asked_to_stop ? 1.0 : 0.0);
      const auto flags = comm.sum(torch::tensor(has_gradient, torch::kFloat64)).to(torch::kCPU);
      const auto sums = sum_blocks_over_ranks(comm, tree.total());
      const auto got = flags.accessor<double, 1>();
      for (size_t p = 0; p < s.params.size(); ++p) {
        s.params[p].mutable_grad() = got[static_cast<int64_t>(p)] != 0 ? sums[p] : torch::Tensor();
      }
      stop_votes.push_back(flags.narrow(0, static_cast<int64_t>(s.params.size()), 1));
    } else {
      stop_votes.push_back(reducer ? reducer->finish()
                                   : comm.sum_gradients(s.params, asked_to_stop));
    }
    apply_running_statistics(comm, s.shard_count);
    // fp16: a step whose gradients overflowed is skipped (the scale was lowered).
    if (scaler.unscale_and_update(s.params)) {
      if (s.after_backward) s.after_backward();
      optimizer.step();
    }
    if (s.after_step) s.after_step(step);
    // Shown and checked as the mean of this rank's shards' losses: on several ranks the same
    // scale as on one (this rank's part of the global mean would be 1/ranks of it).
    losses.push_back(value *
                     (static_cast<double>(s.shard_count) / static_cast<double>(shards.size())));
    ++step;
    ++control.steps_done;
    // The stop votes are read with the losses: every rank reads the same sums after the same step.
    const bool periodic =
        control.checkpoint_every > 0 && control.steps_done % control.checkpoint_every == 0;
    if (!periodic && static_cast<int64_t>(losses.size()) < std::max<int64_t>(1, control.sync_every))
      return;
    const bool stop = read_stop();
    read_losses();  // a diverged loss is found before anything is saved
    if ((stop || periodic) && s.checkpoint) s.checkpoint(step);
    if (stop) throw Interrupted();
  };
  for_each_prefetched(s.end - s.first, s.prefetch, load, train);
  const bool stop = read_stop();
  read_losses();
  if (stop) {
    if (s.checkpoint) s.checkpoint(step);
    throw Interrupted();
  }
}

}  // namespace clbench
