#include "harness/trainer.h"

#include <chrono>
#include <cmath>

#include <torch/torch.h>

#include "harness/comm.h"
#include "harness/error.h"
#include "harness/evaluator.h"
#include "harness/loader.h"
#include "harness/progress.h"
#include "methods/method.h"

namespace clbench {
namespace {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<torch::Tensor>& params,
                                                        const TrainerOptions& o) {
  if (o.optimizer == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
  }
  if (o.optimizer == "adam") {
    return std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
  }
  throw Error("unknown optimizer '" + o.optimizer + "'; valid: sgd, adam");
}

void record_row(const std::vector<TaskAccuracy>& acc, std::vector<double>& class_il,
                std::vector<double>& task_il) {
  class_il.clear();
  task_il.clear();
  for (const auto& a : acc) {
    class_il.push_back(a.class_il);
    task_il.push_back(a.task_il);
  }
}

double mean_over_seen(const std::vector<double>& row, int seen_tasks) {
  double s = 0;
  for (int j = 0; j < seen_tasks; ++j) s += row[j];
  return s / seen_tasks;
}

}  // namespace

StreamRecord train_stream(const TaskStream& stream, Method& method, Communicator& comm,
                          const TrainerOptions& o, Progress& progress, TrainerState state,
                          const TrainerControl& control) {
  const int T = stream.num_tasks();
  StreamRecord& rec = state.record;
  if (!state.evaluated_init) {
    record_row(evaluate_tasks(method, stream, 0, comm, o.eval_batch_size, o.device),
               rec.init_class_il, rec.init_task_il);
    state.evaluated_init = true;
  }
  const bool resume_mid_task = state.epoch > 0 || state.step > 0;
  if (!resume_mid_task && control.restore_method) control.restore_method(method);
  int64_t total_steps = 0;

  for (int t = state.task; t < T; ++t) {
    const Task& task = stream.tasks[t];
    const auto started = std::chrono::steady_clock::now();
    const double earlier = state.task == t ? state.task_elapsed : 0.0;
    auto elapsed = [&] {
      return earlier +
             std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    };
    const bool resuming_here = resume_mid_task && t == state.task;
    method.begin_task(task);
    if (resuming_here && control.restore_method) control.restore_method(method);
    const auto params = method.trainable_parameters();
    if (static_cast<int>(rec.trainable_params.size()) == t) {
      rec.trainable_params.push_back(count_parameters(params));
    }
    auto optimizer = make_optimizer(params, o);
    if (resuming_here && control.restore_optimizer) {
      control.restore_optimizer(*optimizer);
    }
    const auto indices = method.train_indices(task);
    const int64_t steps = (static_cast<int64_t>(indices.size()) + o.batch_size - 1) / o.batch_size;
    progress.start_task(task.index, T, static_cast<int>(o.epochs), steps);

    auto checkpoint = [&](int64_t epoch, int64_t next_step, const torch::optim::Optimizer* opt) {
      if (!control.save) return;
      TrainerState here;
      here.task = t;
      here.epoch = next_step >= steps ? epoch + 1 : epoch;
      here.step = next_step >= steps ? 0 : next_step;
      here.task_elapsed = elapsed();
      here.evaluated_init = true;
      here.record = rec;
      control.save(here, opt);
    };

    const int64_t first_epoch = t == state.task ? state.epoch : 0;
    for (int64_t epoch = first_epoch; epoch < o.epochs; ++epoch) {
      auto order =
          shuffled(indices, mix_seed({uint64_t(o.seed), uint64_t(task.index), uint64_t(epoch)}));
      int64_t step = (t == state.task && epoch == state.epoch) ? state.step : 0;
      order.erase(order.begin(),
                  order.begin() + std::min<int64_t>(step * o.batch_size, order.size()));
      std::vector<std::vector<int64_t>> globals;
      for_each_global_batch(order, o.batch_size,
                            [&](const std::vector<int64_t>& global) { globals.push_back(global); });
      const int64_t first_step = step;
      // This rank's shards of global batch k; the augmentation seed depends on the step only.
      const std::function<std::vector<Batch>(int64_t)> load = [&](int64_t k) {
        const uint64_t augment = mix_seed({uint64_t(o.seed), uint64_t(task.index), uint64_t(epoch),
                                           uint64_t(first_step + k), 0xA6});
        std::vector<Batch> shards;
        for (int s : o.shards) {
          shards.push_back(load_shard(stream, *stream.train_set, globals[k], s, o.shard_count,
                                      o.device, augment));
        }
        return shards;
      };
      const std::function<void(std::vector<Batch>&)> train_step = [&](std::vector<Batch>& shards) {
        optimizer->zero_grad();
        // Gradients accumulate over this rank's shards in order, then sum over
        // ranks: 1 rank with 2 shards adds exactly what 2 ranks add.
        double value = 0;
        for (const Batch& batch : shards) {
          auto loss = method.loss(batch);
          const double part = loss.item<double>();
          if (!std::isfinite(part)) {
            throw Error("training diverged: loss is " + std::to_string(part) + " at task " +
                        std::to_string(task.index + 1) + ", epoch " + std::to_string(epoch + 1) +
                        ", step " + std::to_string(step + 1) +
                        "; lower the learning rate or the method's penalty strength");
          }
          value += part / o.shard_count;
          // Each shard's mean loss counts 1/shard_count, so the gradients summed over shards and
          // ranks are the global batch's mean gradient (DDP divides the sum instead: the same
          // numbers for power-of-two shard counts, one pass over the gradients less).
          if (o.shard_count > 1) loss = loss * (1.0 / o.shard_count);
          loss.backward();
        }
        const bool stop =
            comm.sum_gradients(params, control.stop_requested && control.stop_requested());
        method.after_backward();
        optimizer->step();
        method.after_step();
        progress.step(static_cast<int>(epoch), step++, value);
        ++total_steps;
        if (stop) {
          checkpoint(epoch, step, optimizer.get());
          throw Interrupted();
        }
        if (control.checkpoint_every > 0 && total_steps % control.checkpoint_every == 0) {
          checkpoint(epoch, step, optimizer.get());
        }
      };
      for_each_prefetched(static_cast<int64_t>(globals.size()), o.prefetch, load, train_step);
    }
    method.end_task(task);
    rec.stored_params.push_back(method.stored_parameters());
    rec.task_seconds.push_back(elapsed());

    std::vector<double> class_il, task_il;
    record_row(evaluate_tasks(method, stream, task.class_end, comm, o.eval_batch_size, o.device),
               class_il, task_il);
    rec.class_il.push_back(class_il);
    rec.task_il.push_back(task_il);
    progress.end_task(rec.task_seconds.back(), mean_over_seen(class_il, task.index + 1),
                      mean_over_seen(task_il, task.index + 1));
    if (control.save) {
      TrainerState next;
      next.task = t + 1;
      next.evaluated_init = true;
      next.record = rec;
      control.save(next, nullptr);
    }
  }
  return rec;
}

}  // namespace clbench
