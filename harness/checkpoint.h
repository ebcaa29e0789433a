#pragma once
// Checkpoints: everything a run needs to continue exactly where it stopped — position in the
// stream, the measurements so far, model, optimizer and method state, and the resolved config
// (a resume with a different config is refused). Written atomically (temporary name + rename).
#include <optional>
#include <string>

#include <torch/serialize/archive.h>

#include "harness/trainer.h"

namespace torch::nn {
class Module;
}

namespace clbench {

class Method;

void save_checkpoint(const std::string& path, const TrainerState& state,
                     const std::string& config_json, const torch::nn::Module& model,
                     const torch::optim::Optimizer* optimizer, const Method& method);

class Checkpoint {
 public:
  // Empty when there is no file at `path`; a damaged file is an error naming it. Every tensor is
  // placed on `device`, this rank's: rank 0 wrote it from its own device (cuda:0, or the CPU when
  // a run moves between CPU and GPU), and restoring into a tensor on another device would move that
  // tensor (the archive replaces its data) instead of copying into it.
  static std::optional<Checkpoint> load(const std::string& path, const torch::Device& device);

  TrainerState state;
  std::string config_json;
  void restore_model(torch::nn::Module& model);
  void restore_method(Method& method);
  void restore_optimizer(torch::optim::Optimizer& optimizer);

 private:
  std::string path_;
  std::shared_ptr<torch::serialize::InputArchive> archive_;
};

}  // namespace clbench
