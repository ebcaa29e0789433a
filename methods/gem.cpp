// Gradient Episodic Memory (Lopez-Paz & Ranzato 2017, Sec. 3; official code
// facebookresearch/GradientEpisodicMemory, model/gem.py): each task keeps an episodic memory (a
// ring buffer written from its stream); at every step the gradient of the loss on each past task's
// memory is computed, and when the current gradient g conflicts with one of them (<g, g_k> < 0) it
// is replaced by the closest gradient that does not (Eq. 10), found through the dual QP (Eq. 11)
// with the official code's margin and eps.
#include <torch/torch.h>

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
    const Vector g = flat_gradients(params);
    std::vector<Vector> G;
    bool conflict = false;
    for (int64_t k = 0; k < task_->index; ++k) {
      const auto memory = memory_.samples(k);
      if (memory.empty()) continue;
      const auto past = services().gradients(
          memory, [this](const Batch& b) { return model_loss(b); }, params);
      G.push_back(flatten(past, params));
      conflict = conflict || dot(G.back(), g) < 0;
    }
    if (conflict) set_gradients(params, gem_project(G, g, opt_.margin(), opt_.eps()));
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
  GemOptions opt_;
  RingMemory memory_{opt_.memories()};  // one group per task
  StepSamples this_step_;               // this step's samples
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
