#pragma once
// Checkpoints: everything a run needs to continue exactly where it stopped. A checkpoint holds the
// model and method as they were at the start of the current task, and the progress since then:
// mid-training, the current model, method and optimizer; inside a fit of begin_task or end_task,
// the fit's parameters and optimizer (and, in end_task, the state the training left). Resuming
// restores the start of the task and runs begin_task again on it, so methods never need to know
// that a run was interrupted. Written atomically; rank 0 writes.
#include <memory>
#include <optional>
#include <string>

#include <torch/types.h>

#include "harness/engine/precision.h"
#include "harness/engine/services.h"
#include "harness/engine/trainer_state.h"

namespace torch::nn {
class Module;
}
namespace torch::serialize {
class InputArchive;
}

namespace clbench {

class Method;

// The model's parameters and buffers and the method's state, serialised (a snapshot that later
// training does not change).
std::string capture_state(torch::nn::Module& model, Method& method);
// Loads a capture_state snapshot into `model` and `method` (tensors that lived on a device go to
// `device`), then calls method.after_load().
void restore_state(const std::string& snapshot, torch::nn::Module& model, Method& method,
                   const torch::Device& device);

struct CheckpointContent {
  const TrainerState* state = nullptr;
  std::string config_json;                  // the resolved configuration
  const std::string* task_start = nullptr;  // capture_state at the start of state->task
  const std::string* current = nullptr;     // later: mid-training, or the trained state (end_task)
  const torch::optim::Optimizer* optimizer = nullptr;  // mid-training
  const FitCheckpoint* fit = nullptr;                  // inside a fit
  const GradScaler* scaler = nullptr;                  // fp16: the loss scale so far
};

void write_checkpoint(const std::string& path, const CheckpointContent& content);

class Checkpoint {
 public:
  // Empty when there is no file at `path`; a damaged file, or one of another clbench version, is
  // an error naming it. Tensors of the optimizer and of the fit go to `device`.
  static std::optional<Checkpoint> load(const std::string& path, const torch::Device& device);
  // The file's bytes (empty when there is none), and a checkpoint from them: rank 0 reads, every
  // rank parses what it broadcast, so ranks never disagree on what they resume from.
  static std::optional<std::string> read_bytes(const std::string& path);
  static Checkpoint parse(const std::string& bytes, const std::string& path,
                          const torch::Device& device);

  TrainerState state;
  std::string config_json, task_start, current;
  std::optional<std::pair<double, int64_t>> scaler;  // fp16: loss scale and growth tracker
  bool has_optimizer() const { return !optimizer_.empty(); }
  void restore_optimizer(torch::optim::Optimizer& optimizer) const;
  std::optional<FitCheckpoint> fit() const;  // inside a fit: its progress

 private:
  std::string path_, optimizer_, fit_params_, fit_optimizer_, fit_name_;
  int64_t fit_next_step_ = 0;
  torch::Device device_ = torch::kCPU;
};

}  // namespace clbench
