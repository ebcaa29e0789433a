#pragma once
// Trains a method over a task stream and evaluates after every task (and once before training).
#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "harness/metrics.h"
#include "harness/scenario.h"

namespace clbench {

class Communicator;
class Method;
class Progress;

struct TrainerOptions {
  int64_t epochs = 1;
  int64_t batch_size = 128;  // global, split over ranks
  int64_t eval_batch_size = 1024;
  std::string optimizer = "sgd";  // sgd | adam
  double lr = 0.01, momentum = 0.0, weight_decay = 0.0;
  int64_t seed = 0;
  torch::Device device = torch::kCPU;
};

struct StreamRecord {
  Matrix class_il, task_il;  // R[i][j], percent
  std::vector<double> init_class_il, init_task_il, task_seconds;
  std::vector<int64_t> trainable_params;
  int64_t total_params = 0;
};

StreamRecord train_stream(const TaskStream& stream, Method& method, Communicator& comm,
                          const TrainerOptions& options, Progress& progress);

}  // namespace clbench
