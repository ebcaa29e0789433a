#pragma once
// Trains a method over a task stream and evaluates after every task (and once before training).
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/types.h>

#include "harness/metrics.h"
#include "harness/scenario.h"

namespace torch::optim {
class Optimizer;
}

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
  int shard_count = 1;            // parts each global batch is cut into (a multiple of the ranks)
  std::vector<int> shards = {0};  // the parts this rank computes
  bool prefetch = true;           // load the next batch on a second thread while one trains
};

struct StreamRecord {
  Matrix class_il, task_il;  // R[i][j], percent
  std::vector<double> init_class_il, init_task_il, task_seconds;
  std::vector<int64_t> trainable_params;
  std::vector<int64_t> stored_params;  // after each task's end_task
  int64_t total_params = 0;
};

// Where a run stands: the next batch to train (task, epoch, step) and what was measured so far.
struct TrainerState {
  int task = 0;
  int64_t epoch = 0, step = 0;
  double task_elapsed = 0;  // seconds already spent on `task` before a checkpoint
  bool evaluated_init = false;
  StreamRecord record;
};

// Checkpointing and interruption. Every callback may be empty.
struct TrainerControl {
  int64_t checkpoint_every =
      0;  // also checkpoint every N optimizer steps (0: only after each task)
  // Writes a checkpoint of `state`; `optimizer` is null at a task boundary.
  std::function<void(const TrainerState& state, const torch::optim::Optimizer* optimizer)> save;
  // Resume mid-task: restores the method (after begin_task) and the optimizer (once created).
  std::function<void(Method&)> restore_method;
  std::function<void(torch::optim::Optimizer&)> restore_optimizer;
  // True once this rank was asked to stop (SIGTERM/SIGINT). Polled before each step's gradient
  // all-reduce, which carries it: every rank checkpoints after the same step and throws.
  std::function<bool()> stop_requested;
};

// Thrown after the checkpoint when a stop was requested.
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted; checkpoint written, continue with --resume") {}
};

StreamRecord train_stream(const TaskStream& stream, Method& method, Communicator& comm,
                          const TrainerOptions& options, Progress& progress,
                          TrainerState start = {}, const TrainerControl& control = {});

}  // namespace clbench
