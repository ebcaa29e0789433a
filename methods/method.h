#pragma once
// A continual-learning method, read like its paper: its state, its loss, its end-of-task step.
// The trainer calls these hooks and nothing else; it has no method-specific branches.
//
//   for each task:  begin_task -> [loss, backward, (gradients summed over ranks), after_backward,
//                   optimizer step, after_step (end_epoch after an epoch's last step)]* ->
//                   end_task -> evaluation (logits)
//
// The harness gives a method services (methods/services.h: loading samples, sums over samples,
// gradients on given samples, auxiliary fits) so that it never handles ranks or shards itself.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/arg.h>
#include <torch/types.h>
#include <nlohmann/json.hpp>

#include "datasets/batch.h"
#include "datasets/task_stream.h"
#include "harness/foundation/config.h"
#include "harness/foundation/options.h"
#include "harness/models/backbone.h"
#include "methods/optimization.h"
#include "methods/run_context.h"
#include "methods/services.h"
#include "methods/state.h"

namespace clbench {

struct MemoryFootprint {
  int64_t samples = 0, bytes = 0;
};

struct MethodContext {
  Classifier model{nullptr};
  std::function<Classifier()> make_model;  // a fresh model of the same architecture
  MethodServices* services = nullptr;
  const TaskStream* stream = nullptr;
  std::shared_ptr<const RunContext> run = std::make_shared<const RunContext>();
  bool task_il = false;  // scenario: losses see only each sample's own task's classes
};

class Method {
 public:
  virtual ~Method() = default;
  // Called by the harness, which does the common part and then calls the method's hook (as
  // Mammoth's meta_begin_task wraps begin_task): a method overrides on_attach / on_begin_task and
  // never calls a base.
  void attach(MethodContext context);  // keeps the context, then on_attach()

  // Samples trained on during `task` (joint: the union of tasks 1..t).
  virtual std::vector<int64_t> train_indices(const Task& task) const { return task.train; }
  // Called on the state at the start of the task (also when a run resumes inside it): sets the
  // task and the classes seen so far, then on_begin_task(task).
  void begin_task(const Task& task);
  // A run resumed before the evaluation that follows `task`: sets the task and the classes seen so
  // far as they were at its end, without on_begin_task (the state is the end of the task's).
  void resume_after(const Task& task);
  virtual torch::Tensor loss(const Batch& batch);  // default: model_loss(batch)
  virtual void after_backward() {}
  virtual void after_step() {}
  // After the last step of each epoch, before that step's checkpoint (so a resumed run never
  // misses one). It must not communicate: keep what is needed and compute in end_task.
  virtual void end_epoch(int /*epoch*/) {}
  virtual void end_task(const Task& /*task*/) {}
  // Logits over all classes (evaluation: batch.task is set if the method declares that it needs
  // the task id at test time).
  virtual torch::Tensor logits(const Batch& batch);
  virtual std::vector<torch::Tensor> trainable_parameters();
  // What the optimiser trains, in groups with their own lr and weight decay (default: one group of
  // trainable_parameters() with the run's).
  virtual std::vector<ParamGroup> parameter_groups();
  // Numbers the method must keep after the current task to make its predictions, beyond a shared
  // frozen pretrained backbone (default: the whole model, as full fine-tuning must store it).
  virtual int64_t stored_parameters() const;
  // Backbone forward passes per test image (the prompt methods' query pass makes 2), recorded in
  // the result file next to the time per task.
  virtual int64_t forward_passes() const { return 1; }
  // The replay memory the method keeps after the current task (samples and the bytes they take as
  // stored: the samples' pixels, stored logits, task ids), recorded in the result file.
  virtual MemoryFootprint memory() const { return {}; }
  // Predictions the method reports next to logits() (iCaRL: its linear head next to the nearest
  // mean of exemplars), each evaluated like logits() and kept in the result file by name.
  virtual std::vector<std::string> other_predictions() const { return {}; }
  virtual torch::Tensor other_logits(const std::string& name, const Batch& batch);
  // The method's own state (memories, importances, old models...), declared once (methods/state.h)
  // for checkpoints; the model's parameters are saved by the trainer.
  virtual void state(StateVisitor& /*v*/) {}
  // After a load: re-links what state() cannot express (tensors shared between fields, views).
  virtual void after_load() {}

 protected:
  virtual void on_attach() {}                          // ctx_ is set
  virtual void on_begin_task(const Task& /*task*/) {}  // task_ and seen_classes_ are set
  // Cross-entropy over the classes seen so far (class-IL) or over each sample's own task's classes
  // (task-IL), as this rank's share of the global batch mean.
  torch::Tensor classification_loss(const torch::Tensor& logits, const Batch& batch) const;
  // The same per sample {B}, from logits and labels alone (an objective of per-sample rules).
  torch::Tensor per_sample_classification_loss(const torch::Tensor& logits,
                                               const torch::Tensor& labels) const;
  // Cross-entropy on the current task's classes only (labels shifted by the classes known before),
  // as the logits of past classes masked out: the loss of the adapter and prompt methods' code.
  torch::Tensor current_task_loss(const torch::Tensor& logits, const Batch& batch) const;
  // classification_loss of the model's logits on the batch: plain training's loss.
  torch::Tensor model_loss(const Batch& batch);
  // The model's logits on each of `inputs` (rows_of_parts: one forward where the model has no
  // batch norm; else one each, each batch normalised by its own statistics, as the methods' code
  // does).
  std::vector<torch::Tensor> model_logits(const std::vector<torch::Tensor>& inputs);
  // Logits with the classes a sample may not be assigned to (by the scenario) set to -inf.
  torch::Tensor mask_logits(const torch::Tensor& logits, const torch::Tensor& labels) const;
  MethodServices& services() const { return *ctx_.services; }
  const RunContext& run() const { return *ctx_.run; }  // device, seed, batch size, epochs
  // The optimizer steps the trainer takes on `task`: epochs x batches of its training samples.
  int64_t training_steps(const Task& task) const;
  // A training batch's place in the stream (an Error for a batch without one).
  static const StepIndex& training_step(const Batch& batch);
  // `samples`, a global replay draw (the same on every rank), loaded as `batch`'s shard of it and
  // augmented like the batch, from its seed and `salt` (replay goes through the training
  // transform, as in Mammoth and PILOT).
  Batch replayed(const Batch& batch, const std::vector<int64_t>& samples,
                 std::initializer_list<uint64_t> salt) const;
  // A fresh model of the same architecture, frozen (an old model for distillation or labelling).
  Classifier frozen_model() const;
  // The internal class of training sample `sample`.
  int64_t internal_class(int64_t sample) const;
  // A replay memory's group for a training sample of task `task`: task * C + its internal class.
  // In class order where each class belongs to one task (so a memory grouped this way is grouped
  // by class, and the earlier tasks' groups are those below first_group(task)); where tasks share
  // their classes (domain-il), each task keeps its own group per class.
  int64_t task_class_group(int64_t task, int64_t sample) const;
  int64_t first_group(int64_t task) const { return task * ctx_.stream->num_classes(); }

  MethodContext ctx_;
  const Task* task_ = nullptr;
  int64_t seen_classes_ = 0;  // classes of tasks 1..t while training task t
  torch::Tensor task_of_class_;
};

// Freezes a module: eval mode, no gradients.
void freeze(torch::nn::Module& module);

// `f` on each of `parts` (tensors with one row per sample, the inputs of one forward through
// `module`), or, where `module` has no batch norm, once on the parts concatenated row by row and
// split back: the same function in fewer, larger products. `f` returns one row per sample.
using PartFn = std::function<torch::Tensor(const std::vector<torch::Tensor>&)>;
std::vector<torch::Tensor> rows_of_parts(torch::nn::Module& module,
                                         const std::vector<std::vector<torch::Tensor>>& parts,
                                         const PartFn& f);

// What a method needs, checked before any data is read (with an error naming the requirement).
struct MethodRequirements {
  std::vector<std::string> backbone_kinds;  // e.g. {"vit"}; empty: any backbone
  std::vector<std::string> scenarios;       // e.g. {"task-il"}; empty: any
  bool task_id_at_test = false;             // evaluation gives it each batch's task (batch.task)
  // It learns on top of a frozen backbone, so random backbone weights give chance-level numbers:
  // a run without --pretrained is refused unless it says --pretrained none.
  bool pretrained_backbone = false;
  // The key of its replay memory's size in samples, if it has one: a size above the stream's
  // training samples is refused (the memory never fills, and would be allocated for nothing), and
  // with memory_per_class one below the class count (a class left without a sample).
  std::string memory_key;
  bool memory_per_class = false;
  // Its loss couples the samples of a gradient shard, as batch norm does (HiDe-Prompt's contrastive
  // term, computed on each device's batch as its code does): runs give the same numbers on any
  // number of ranks for the same grad_shards.
  bool shard_coupled_loss = false;
  // It runs where tasks share their classes (domain-il): nothing in it assumes a class belongs to
  // one task (memories balanced per task and class, no "old classes" before the current task's).
  bool shared_classes = false;
};

// The requirements of a method whose only one is its replay memory `key` (see memory_key).
inline MethodRequirements replay_memory(const std::string& key, bool per_class = false) {
  MethodRequirements r;
  r.memory_key = key;
  r.memory_per_class = per_class;
  return r;
}

// Registry: name -> factory, with the method's own config keys ("<name>.<key>").
struct MethodEntry {
  std::string name, summary;
  std::vector<OptionSpec> keys;
  nlohmann::json defaults = nlohmann::json::object();  // the method's defaults for common keys
  MethodRequirements requirements;
  std::function<std::unique_ptr<Method>(const Config&)> make;
  // The rules of its options that join several keys (null: none), run when a run is planned.
  std::function<void(const Config&)> check;
  // Settings of its own keys ("buffer": 8, without the "<name>." prefix) that make the tests' tiny
  // runs tinier (small memories, short fits); every test run of the method uses them. Checked at
  // registration against `keys`.
  nlohmann::json tiny = nlohmann::json::object();
  // The settings of its official configs per benchmark ({"imagenet-r-10": {"epochs": 50, ...}}),
  // common keys and its own ("<name>.<key>"), applied by --set preset=paper over its defaults.
  nlohmann::json paper = nlohmann::json::object();

  MethodEntry&& tiny_settings(nlohmann::json settings) && {
    tiny = std::move(settings);
    return std::move(*this);
  }
  MethodEntry&& paper_settings(nlohmann::json settings) && {
    paper = std::move(settings);
    return std::move(*this);
  }
  MethodEntry&& runs_on_shared_classes() && {
    requirements.shared_classes = true;
    return std::move(*this);
  }
};

// `file`: the registering file, named if another registers the same name.
bool register_method(MethodEntry entry, const char* file = __builtin_FILE());

// Random numbers every rank draws alike: a CPU generator seeded from the run's seed and a salt.
at::Generator make_generator(int64_t seed, int64_t salt);
const std::vector<MethodEntry>& methods();
const MethodEntry& find_method(const std::string& name);  // error lists the valid names

struct NoOptions {
  template <class V>
  void visit(V&) {}
};

// Whether an options struct declares `void check(const std::string& prefix) const`.
template <class O, class = void>
struct has_check : std::false_type {};
template <class O>
struct has_check<O, std::void_t<decltype(std::declval<const O&>().check(std::string()))>>
    : std::true_type {};

// Entry for a method class M constructed from its options struct O (keys prefixed by `name`).
template <class M, class O = NoOptions>
MethodEntry method_entry(const std::string& name, const std::string& summary,
                         nlohmann::json defaults = nlohmann::json::object(),
                         MethodRequirements requirements = {}) {
  MethodEntry e;
  e.name = name;
  e.summary = summary;
  e.keys = option_specs<O>(name);
  e.defaults = std::move(defaults);
  e.requirements = std::move(requirements);
  e.make = [name](const Config& cfg) -> std::unique_ptr<Method> {
    return std::make_unique<M>(read_options<O>(cfg, name));
  };
  if constexpr (has_check<O>::value) {
    e.check = [name](const Config& cfg) { read_options<O>(cfg, name).check(name); };
  }
  return e;
}

}  // namespace clbench
