#include "methods/method.h"

#include <algorithm>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/random.h"
#include "harness/foundation/registry.h"
#include "harness/models/batch_norm.h"

namespace clbench {

void Method::attach(MethodContext context) {
  ctx_ = std::move(context);
  const auto& tasks = ctx_.stream->tasks;
  std::vector<int64_t> owner(static_cast<size_t>(ctx_.stream->num_classes()));
  for (const auto& t : tasks) {
    for (int64_t c = t.class_begin; c < t.class_end; ++c) owner[c] = t.index;
  }
  task_of_class_ = torch::tensor(owner, torch::kLong).to(run().device);
  on_attach();
}

void Method::begin_task(const Task& task) {
  resume_after(task);
  on_begin_task(task);
}

void Method::resume_after(const Task& task) {
  task_ = &task;
  seen_classes_ = task.class_end;
}

torch::Tensor Method::mask_logits(const torch::Tensor& logits, const torch::Tensor& labels) const {
  const int64_t C = logits.size(1);
  torch::Tensor allowed;
  if (ctx_.task_il) {
    const auto sample_task = task_of_class_.index_select(0, labels).unsqueeze(1);
    allowed = task_of_class_.unsqueeze(0) == sample_task;
  } else {
    allowed = (torch::arange(C, logits.options().dtype(torch::kLong)) < seen_classes_).unsqueeze(0);
  }
  return logits.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
}

torch::Tensor Method::per_sample_classification_loss(const torch::Tensor& logits,
                                                     const torch::Tensor& labels) const {
  return torch::nn::functional::cross_entropy(
      mask_logits(logits, labels), labels,
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
}

torch::Tensor Method::classification_loss(const torch::Tensor& logits, const Batch& batch) const {
  return batch.mean(per_sample_classification_loss(logits, batch.y));
}

torch::Tensor Method::current_task_loss(const torch::Tensor& logits, const Batch& batch) const {
  const int64_t known = task_->class_begin, count = task_->class_end - task_->class_begin;
  const auto per_sample = torch::nn::functional::cross_entropy(
      logits.narrow(1, known, count), batch.y - known,
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  return batch.mean(per_sample);
}

torch::Tensor Method::model_loss(const Batch& batch) {
  return classification_loss(ctx_.model->forward(batch.x), batch);
}

std::vector<torch::Tensor> rows_of_parts(torch::nn::Module& module,
                                         const std::vector<std::vector<torch::Tensor>>& parts,
                                         const PartFn& f) {
  std::vector<torch::Tensor> out;
  if (parts.size() < 2 || has_batch_norm(module)) {
    for (const auto& part : parts) out.push_back(f(part));
    return out;
  }
  std::vector<torch::Tensor> joined;
  for (size_t i = 0; i < parts[0].size(); ++i) {
    std::vector<torch::Tensor> column;
    for (const auto& part : parts) column.push_back(part.at(i));
    joined.push_back(torch::cat(column));
  }
  std::vector<int64_t> rows;
  for (const auto& part : parts) rows.push_back(part.at(0).size(0));
  return f(joined).split_with_sizes(rows);
}

std::vector<torch::Tensor> Method::model_logits(const std::vector<torch::Tensor>& inputs) {
  std::vector<std::vector<torch::Tensor>> parts;
  for (const auto& x : inputs) parts.push_back({x});
  return rows_of_parts(*ctx_.model, parts, [this](const std::vector<torch::Tensor>& x) {
    return ctx_.model->forward(x[0]);
  });
}

torch::Tensor Method::loss(const Batch& batch) {
  return model_loss(batch);
}

torch::Tensor Method::logits(const Batch& batch) {
  return ctx_.model->forward(batch.x);
}

torch::Tensor Method::other_logits(const std::string& name, const Batch&) {
  throw Error("internal: the method has no prediction named '" + name + "'");
}

std::vector<torch::Tensor> Method::trainable_parameters() {
  return ctx_.model->parameters();
}

std::vector<ParamGroup> Method::parameter_groups() {
  return {ParamGroup{trainable_parameters(), std::nullopt, std::nullopt}};
}

int64_t Method::stored_parameters() const {
  return count_parameters(ctx_.model->parameters());
}

int64_t Method::training_steps(const Task& task) const {
  return run().steps_per_task(static_cast<int64_t>(train_indices(task).size()));
}

const StepIndex& Method::training_step(const Batch& batch) {
  if (!batch.step) throw Error("internal: the method needs a batch of the trainer's loop");
  return *batch.step;
}

int64_t Method::internal_class(int64_t sample) const {
  return ctx_.stream->to_internal[ctx_.stream->train_set->label(sample)];
}

int64_t Method::task_class_group(int64_t task, int64_t sample) const {
  return first_group(task) + internal_class(sample);
}

Batch Method::replayed(const Batch& batch, const std::vector<int64_t>& samples,
                       std::initializer_list<uint64_t> salt) const {
  std::optional<uint64_t> augment;
  if (batch.augment_seed) augment = mix_seed(*batch.augment_seed, salt);
  return services().load(samples, batch.shard, augment);
}

Classifier Method::frozen_model() const {
  auto m = ctx_.make_model();
  freeze(*m);
  return m;
}

void freeze(torch::nn::Module& module) {
  module.eval();
  for (auto& p : module.parameters()) p.set_requires_grad(false);
}

at::Generator make_generator(int64_t seed, int64_t salt) {
  return at::make_generator<at::CPUGeneratorImpl>(
      static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(salt));
}

bool register_method(MethodEntry entry, const char* file) {
  for (const auto& [key, value] : entry.tiny.items()) {
    const std::string full = entry.name + "." + key;
    const bool declared = std::any_of(entry.keys.begin(), entry.keys.end(),
                                      [&](const OptionSpec& k) { return k.key == full; });
    if (!declared) {
      Registry<MethodEntry>::refuse(std::string(file) + ": the tiny settings of \"" + entry.name +
                                    "\" name \"" + key + "\", which is not one of its keys");
      return false;
    }
  }
  return Registry<MethodEntry>::add(std::move(entry), file);
}
const std::vector<MethodEntry>& methods() {
  return Registry<MethodEntry>::all();
}
const MethodEntry& find_method(const std::string& name) {
  return Registry<MethodEntry>::find(name, "method");
}

}  // namespace clbench
