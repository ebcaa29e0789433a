#pragma once
// A continual-learning method, read like its paper: its state, its loss, its end-of-task step.
// The trainer calls these hooks and nothing else; it has no method-specific branches.
//
//   for each task:  begin_task -> [loss, backward, (gradients averaged over ranks),
//                   after_backward, optimizer step, after_step]* -> end_task -> evaluation (logits)
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/serialize/archive.h>
#include <torch/types.h>
#include <nlohmann/json.hpp>

#include "harness/config.h"
#include "harness/models.h"
#include "harness/options.h"
#include "harness/scenario.h"

namespace clbench {

class Communicator;

struct MethodContext {
  Classifier model{nullptr};
  std::function<Classifier()> make_model;  // a fresh model of the same architecture
  Communicator* comm = nullptr;
  const TaskStream* stream = nullptr;
  torch::Device device = torch::kCPU;
  int64_t seed = 0;
  int64_t batch_size = 0;  // global batch size
  // Every global batch is cut into `shard_count` equal parts; this rank computes `shards`, in
  // order. With shard_count fixed, 1 or 2 ranks give bit-identical gradients (see the trainer).
  int shard_count = 1;
  std::vector<int> shards = {0};
  bool task_il = false;  // scenario: losses see only each sample's own task's classes
};

class Method {
 public:
  virtual ~Method() = default;
  virtual void attach(MethodContext context);

  // Samples trained on during `task` (joint: the union of tasks 1..t).
  virtual std::vector<int64_t> train_indices(const Task& task) const { return task.train; }
  virtual void begin_task(const Task& task);
  virtual torch::Tensor loss(
      const Batch& batch);  // default: cross-entropy (see classification_loss)
  virtual void after_backward() {}
  virtual void after_step() {}
  virtual void end_task(const Task& /*task*/) {}
  virtual torch::Tensor logits(const torch::Tensor& images);  // over all classes
  virtual std::vector<torch::Tensor> trainable_parameters();
  // Numbers the method must keep after the current task to make its predictions, beyond a shared
  // frozen pretrained backbone (default: the whole model, as full fine-tuning must store it).
  virtual int64_t stored_parameters() const;
  // The method's own state (memories, importances, old models...) for checkpoints. Called at a
  // task boundary, or mid-task after begin_task; load gets what save wrote.
  virtual void save(torch::serialize::OutputArchive& /*archive*/) const {}
  virtual void load(torch::serialize::InputArchive& /*archive*/) {}

 protected:
  // Cross-entropy over the classes seen so far (class-IL) or over each sample's own task's classes
  // (task-IL), as this rank's share of the global batch mean.
  torch::Tensor classification_loss(const torch::Tensor& logits, const Batch& batch) const;
  // Logits with the classes a sample may not be assigned to (by the scenario) set to -inf.
  torch::Tensor mask_logits(const torch::Tensor& logits, const torch::Tensor& labels) const;
  Communicator& comm() const { return *ctx_.comm; }

  MethodContext ctx_;
  const Task* task_ = nullptr;
  int64_t seen_classes_ = 0;  // classes of tasks 1..t while training task t
  torch::Tensor task_of_class_;
};

// Registry: name -> factory, with the method's own config keys ("<name>.<key>").
struct MethodEntry {
  std::string name, summary;
  std::vector<OptionSpec> keys;
  nlohmann::json defaults = nlohmann::json::object();  // the method's defaults for common keys
  std::function<std::unique_ptr<Method>(const Config&)> make;
};

bool register_method(MethodEntry entry);
const std::vector<MethodEntry>& methods();
const MethodEntry& find_method(const std::string& name);  // error lists the valid names

// Checkpoint helpers for lists of tensors and integers.
void save_tensors(torch::serialize::OutputArchive& a, const std::string& key,
                  const std::vector<torch::Tensor>& tensors);
std::vector<torch::Tensor> load_tensors(torch::serialize::InputArchive& a, const std::string& key);
void save_int(torch::serialize::OutputArchive& a, const std::string& key, int64_t value);
int64_t load_int(torch::serialize::InputArchive& a, const std::string& key);

struct NoOptions {
  template <class V>
  void visit(V&) {}
};

// Entry for a method class M constructed from its options struct O (keys prefixed by `name`).
template <class M, class O = NoOptions>
MethodEntry method_entry(const std::string& name, const std::string& summary,
                         nlohmann::json defaults = nlohmann::json::object()) {
  MethodEntry e;
  e.name = name;
  e.summary = summary;
  e.keys = option_specs<O>(name);
  e.defaults = std::move(defaults);
  e.make = [name](const Config& cfg) -> std::unique_ptr<Method> {
    return std::make_unique<M>(read_options<O>(cfg, name));
  };
  return e;
}

}  // namespace clbench
