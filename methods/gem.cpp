// Gradient Episodic Memory (Lopez-Paz & Ranzato 2017, Sec. 3; official code
// facebookresearch/GradientEpisodicMemory, model/gem.py): each task keeps an episodic memory (a
// ring buffer written from its stream); at every step the gradient of the loss on each past task's
// memory is computed, and when the current gradient g conflicts with one of them (<g, g_k> < 0) it
// is replaced by the closest gradient that does not (Eq. 10), found through the dual QP (Eq. 11)
// with the official code's margin and eps.
#include <algorithm>
#include <unordered_map>

#include <torch/torch.h>

#include "harness/models/per_sample_gradients.h"

#include "methods/gradient_projection.h"
#include "methods/method.h"
#include "methods/replay/footprint.h"
#include "methods/replay/step_samples.h"
#include "methods/replay/stream_memories.h"

namespace clbench {
namespace {

struct GemOptions {
  TORCH_ARG(int64_t, memories) = 256;
  TORCH_ARG(double, margin) = 0.5;
  TORCH_ARG(double, eps) = 1e-3;

 public:
  template <class V>
  void visit(V& v) {
    v("memories", memories_, "episodic memory per task in samples (official n_memories: 256)",
      {1, 1e9});
    v("margin", margin_,
      "memory_strength gamma: the QP's lower bound on v (official code; the paper adds it to v*)",
      {0, 1e6});
    v("eps", eps_,
      "added to the diagonal of G G' (official: 1e-3; 0 solves the exact projection of Eq. 10)",
      {0, 1e6});
  }
};

class Gem : public Method {
 public:
  explicit Gem(GemOptions o) : opt_(o) {}

  torch::Tensor loss(const Batch& batch) override {
    this_step_.record(batch);
    return model_loss(batch);
  }

  // The gradients are summed over ranks here: every rank solves the same QP on the same bits.
  void after_backward() override {
    if (task_->index == 0) return;
    const auto params = trainable_parameters();
    flat_gradients_into(params, g_);
    past_gradients(params);
    const GemSystem system = gem_system(G_, g_);
    const bool conflict =
        std::any_of(system.q.begin(), system.q.end(), [](double x) { return x < 0; });
    if (!conflict) return;
    gem_project_in_place(system, G_, g_, opt_.margin(), opt_.eps());
    set_gradients(params, g_);
  }

  // The official code writes the current batch into its task's memory at every step.
  void after_step() override {
    const auto global = this_step_.gather(services());
    memory_.add(task_->index, global.indices);
  }

  MemoryFootprint memory() const override {
    return replay_footprint(*ctx_.stream->train_set, memory_.size(), 0, true);
  }

  void state(StateVisitor& v) override { memory_.state(v); }

 private:
  // G_: the gradient of the loss on each past task's memory (those not empty). Where every
  // parameter has a per-sample rule (Linear, Conv2d) all of them come from one batched backward
  // over all the memories, each task's share summed by its samples' rule (the same gradients up to
  // float rounding); otherwise one backward pass per task.
  void past_gradients(const std::vector<torch::Tensor>& params) {
    std::vector<std::vector<int64_t>> memories;
    for (int64_t k = 0; k < task_->index; ++k) {
      if (!memory_.samples(k).empty()) memories.push_back(memory_.samples(k));
    }
    G_.resize(memories.size());
    if (!has_sample_gradient_rules(*ctx_.model, params)) {
      for (size_t k = 0; k < memories.size(); ++k) {
        const auto past = services().gradients(
            memories[k], [this](const Batch& b) { return model_loss(b); }, params);
        flatten_into(past, params, G_[k]);
      }
      return;
    }
    std::unordered_map<int64_t, int64_t> task_of;
    std::vector<int64_t> all;
    for (size_t k = 0; k < memories.size(); ++k) {
      for (int64_t s : memories[k]) task_of.emplace(s, static_cast<int64_t>(k));
      all.insert(all.end(), memories[k].begin(), memories[k].end());
    }
    const auto groups = static_cast<int64_t>(memories.size());
    const auto sums = services().step_sum_over_samples(all, [&](const Batch& b) {
      std::vector<int64_t> group;
      for (int64_t s : b.indices) group.push_back(task_of.at(s));
      const auto per_task = group_gradient_sums(
          *ctx_.model, b.x, b.y,
          [this](const torch::Tensor& logits, const torch::Tensor& y) {
            return per_sample_classification_loss(logits, y);
          },
          params, torch::tensor(group, torch::kLong), groups);
      std::vector<torch::Tensor> flat;
      for (const auto& task : per_task) flat.insert(flat.end(), task.begin(), task.end());
      return flat;
    });
    const auto task_sums = [&](size_t k) {
      return std::vector<torch::Tensor>(
          sums.begin() + static_cast<std::ptrdiff_t>(k * params.size()),
          sums.begin() + static_cast<std::ptrdiff_t>((k + 1) * params.size()));
    };
    for (size_t k = 0; k < memories.size(); ++k)  // the mean, in float32 as ATen's
      flatten_into(task_sums(k), params, G_[k], static_cast<float>(memories[k].size()));
  }

  GemOptions opt_;
  RingMemory memory_{opt_.memories()};  // one group per task
  StepSamples this_step_;               // this step's samples
  FloatVector g_;                       // this step's gradient, flat
  std::vector<FloatVector> G_;          // the past tasks' memory gradients, flat
};

const bool registered_gem = register_method(
    method_entry<Gem, GemOptions>(
        "gem", "GEM (Lopez-Paz & Ranzato 2017): per-task memories, QP projection of the gradient",
        {{"momentum",
          0.0}})  // the official code's plain SGD: each update is the projected gradient
        .tiny_settings({{"memories", 8}})
        .runs_on_shared_classes());

}  // namespace
}  // namespace clbench
