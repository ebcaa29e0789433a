#pragma once
// Accuracy on every task's test set from one set of logits: class-IL = argmax over the classes seen
// so far, task-IL = argmax within the task's own classes. The model is in eval mode; each rank
// evaluates its share of every batch and the counts are summed over ranks.
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "datasets/task_stream.h"
#include "harness/engine/step_loop.h"

namespace torch::nn {
class Module;
}

namespace clbench {

class Communicator;
class Method;

struct TaskAccuracy {
  double class_il = 0, task_il = 0;  // percent; NaN: the task was not evaluated
};

struct EvalOptions {
  int64_t batch_size = 1024;
  torch::Device device = torch::kCPU;
  bool task_id = false;  // give the method each batch's task (methods that declare they need it)
  const StepControl* control = nullptr;  // polled between batches: StopRequested on a stop
  int64_t last_task = -1;  // tasks after this one are not evaluated (NaN); -1: every task
};

// Accuracies of the method's logits() and of each of its other_predictions(), in that order.
struct Evaluation {
  std::vector<TaskAccuracy> main;
  std::vector<std::vector<TaskAccuracy>> others;
};

Evaluation evaluate_tasks(Method& method, torch::nn::Module& model, const TaskStream& stream,
                          int64_t seen_classes, Communicator& comm, const EvalOptions& options);

}  // namespace clbench
