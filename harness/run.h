#pragma once
// One run from configuration to result: resolve the config against the benchmark's and the
// method's declared keys, build the stream and the model, train, evaluate, and describe the result.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/config.h"
#include "harness/models.h"
#include "harness/scenario.h"
#include "harness/trainer.h"
#include "methods/method.h"
#include "results/result_file.h"

namespace clbench {

class Communicator;
class Progress;

// Keys every run has (benchmark, method, seed, epochs, lr, ...).
std::vector<OptionSpec> common_specs();

struct RunPlan {
  Config config;  // every declared key, resolved
  std::string benchmark, method, label;
  int64_t seed = 0;
  std::string result_path;  // <out>/<benchmark>/<label>/seed-<seed>.h5
};

// `user`: flat keys from the config file, flags and --set. Errors name the key and value.
RunPlan plan_run(const nlohmann::json& user);

// What a run trains: the task stream, the model, the method attached to it, the trainer's options
// (this rank's gradient shards included). Every rank starts from rank 0's weights.
struct Session {
  TaskStream stream;
  Classifier model{nullptr};
  std::unique_ptr<Method> method;
  TrainerOptions trainer;
};
std::unique_ptr<Session> build_session(const RunPlan& plan, Communicator& comm);

// Checkpoint file of a run: next to its result, <...>/seed-<seed>.ckpt.
std::string checkpoint_path(const RunPlan& plan);

struct RunOptions {
  bool resume = false;                   // continue from the checkpoint if there is one
  int64_t checkpoint_every = 0;          // also checkpoint every N steps (always after each task)
  std::function<bool()> stop_requested;  // this rank's stop signal (the trainer makes ranks agree)
};

// Trains and evaluates; rank 0 writes checkpoints. Throws Interrupted after a requested stop.
RunResult execute(const RunPlan& plan, Communicator& comm, Progress& progress,
                  const RunOptions& options = {});

}  // namespace clbench
