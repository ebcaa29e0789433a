#pragma once
// Trains a method over a task stream and evaluates after every task (and once before training).
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <torch/types.h>

#include "datasets/task_stream.h"
#include "harness/engine/checkpoint.h"
#include "harness/engine/optim.h"
#include "harness/engine/services.h"
#include "harness/engine/step_loop.h"
#include "harness/engine/trainer_state.h"
#include "harness/models/backbone.h"
#include "methods/optimization.h"
#include "methods/run_context.h"

namespace clbench {

class Communicator;
class Method;
class Progress;

struct TrainerOptions {
  std::shared_ptr<const RunContext> run = std::make_shared<const RunContext>();
  OptimizerSpec optimizer;  // re-created at every task
  LrSchedule schedule;
  bool task_id_at_test = false;  // the method declares that it needs the task id at test time
  // After each task, evaluate every later task too (the whole accuracy matrix), not only the
  // next one (all that FWT needs).
  bool evaluate_all_future = false;
};

// Checkpointing and interruption.
struct TrainerControl {
  StepControl steps;  // the stop signal and the checkpoint interval
  // Writes a checkpoint; every rank calls it at the same point. Empty: no checkpoints (and no
  // snapshots are kept).
  std::function<void(const CheckpointContent&)> save;
};

// Trains `method` (attached to `model`, with `services` as its services) over `stream`. With
// `resume`, continues where that checkpoint stopped. Throws Interrupted after a requested stop.
StreamRecord train_stream(const TaskStream& stream, Method& method, Classifier model,
                          EngineServices& services, Communicator& comm,
                          const TrainerOptions& options, Progress& progress,
                          const Checkpoint* resume = nullptr, TrainerControl control = {});

}  // namespace clbench
