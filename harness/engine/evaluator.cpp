#include "harness/engine/evaluator.h"

#include <limits>

#include <torch/torch.h>

#include "datasets/loader.h"
#include "harness/distributed/communicator.h"
#include "methods/method.h"

namespace clbench {

Evaluation evaluate_tasks(Method& method, torch::nn::Module& model, const TaskStream& stream,
                          int64_t seen_classes, Communicator& comm, const EvalOptions& o) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const int T = stream.num_tasks();
  const auto others = method.other_predictions();
  const int64_t P = 1 + static_cast<int64_t>(others.size());
  // Per prediction and task: correct class-IL, correct task-IL, samples; counted on the device
  // and read once.
  auto counts = torch::zeros({P, T, 3}, torch::TensorOptions(torch::kFloat64).device(o.device));
  const Precision precision = o.control != nullptr ? o.control->precision : Precision::kFp32;
  const auto count_batch = [&](const Task& task, const std::vector<int64_t>& global) {
    Batch b = load_shard(stream, *stream.test_set, global, comm.rank(), comm.size(), o.device);
    if (b.y.numel() == 0) return;
    if (o.task_id) b.task = task.index;
    for (int64_t p = 0; p < P; ++p) {
      torch::Tensor logits;
      {
        const AutocastScope autocast(precision, b.x.device().type());
        logits =
            p == 0 ? method.logits(b) : method.other_logits(others[static_cast<size_t>(p - 1)], b);
      }
      auto row = counts[p][task.index];
      if (seen_classes > 0) row[0] += logits.narrow(1, 0, seen_classes).argmax(1).eq(b.y).sum();
      const int64_t width = task.class_end - task.class_begin;
      const auto within = logits.narrow(1, task.class_begin, width).argmax(1) + task.class_begin;
      row[1] += within.eq(b.y).sum();
      row[2] += static_cast<double>(b.y.size(0));
    }
  };
  const auto evaluated = [&](const Task& task) {
    return o.last_task < 0 || task.index <= o.last_task;
  };
  try {
    for (const auto& task : stream.tasks) {
      if (!evaluated(task)) continue;
      for_each_global_batch(task.test, o.batch_size, [&](const std::vector<int64_t>& global) {
        if (o.control == nullptr) return count_batch(task, global);
        o.control->stoppable_batch(comm, [&] { count_batch(task, global); });
      });
    }
  } catch (const StopRequested&) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  counts = counts.cpu();
  std::vector<torch::Tensor> reduce{counts};
  comm.allreduce_sum(reduce);
  Evaluation out;
  for (int64_t p = 0; p < P; ++p) {
    std::vector<TaskAccuracy> acc(static_cast<size_t>(T));
    for (int j = 0; j < T; ++j) {
      if (!evaluated(stream.tasks[j])) {
        acc[j].class_il = acc[j].task_il = std::numeric_limits<double>::quiet_NaN();
        continue;
      }
      const double n = counts[p][j][2].item<double>();
      if (n > 0) {
        acc[j].class_il = 100.0 * counts[p][j][0].item<double>() / n;
        acc[j].task_il = 100.0 * counts[p][j][1].item<double>() / n;
      }
    }
    (p == 0 ? out.main : out.others.emplace_back()) = std::move(acc);
  }
  return out;
}

}  // namespace clbench
