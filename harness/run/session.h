#pragma once
// What a run trains: the task stream, the model, the services and the method attached to them, and
// the trainer's options (this rank's gradient shards included). Every rank starts from rank 0's
// weights.
#include <memory>

#include "datasets/task_stream.h"
#include "harness/engine/services.h"
#include "harness/engine/trainer.h"
#include "harness/models/backbone.h"
#include "harness/run/plan.h"
#include "methods/method.h"

namespace clbench {

class Communicator;
class Progress;

struct Session {
  TaskStream stream;
  std::vector<TaskDigest> data;  // the stream's digest, the same on every rank
  Classifier model{nullptr};
  std::unique_ptr<EngineServices> services;
  std::unique_ptr<Method> method;
  TrainerOptions trainer;
  StepControl
      steps;  // precision, optimizer kernels, reduction, loss reads (no stop, no checkpoints)
};

// Applies the plan's CPU kernel mode (before any tensor operation of the process), reads the
// benchmark, checks that every rank runs the same settings on the same data (rank_agreement.h),
// builds the model (with --pretrained weights) and attaches the method.
std::unique_ptr<Session> build_session(const RunPlan& plan, Communicator& comm);

// Trains the session's method over its stream, without checkpoints.
StreamRecord train_session(Session& session, Communicator& comm, Progress& progress);

}  // namespace clbench
