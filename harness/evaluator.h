#pragma once
// Accuracy on every task's test set from one set of logits: class-IL = argmax over the classes seen
// so far, task-IL = argmax within the task's own classes. Counts are summed over ranks.
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "harness/scenario.h"

namespace clbench {

class Communicator;
class Method;

struct TaskAccuracy {
  double class_il = 0, task_il = 0;  // percent
};

std::vector<TaskAccuracy> evaluate_tasks(Method& method, const TaskStream& stream,
                                         int64_t seen_classes, Communicator& comm,
                                         int64_t batch_size, const torch::Device& device);

}  // namespace clbench
