// Averaged GEM (Chaudhry et al. 2019, Sec. 4, Eq. 11; official code facebookresearch/agem,
// model/model.py): one constraint per step, against the gradient g_ref of the loss on a random
// batch of the episodic memory of all past tasks; a conflicting gradient is projected onto the
// half-space <g~, g_ref> >= 0. The memory is a ring buffer per class (official: mem_size samples
// per class, written from the stream).
#include <torch/torch.h>

#include "harness/foundation/random.h"
#include "methods/gradient_projection.h"
#include "methods/method.h"
#include "methods/replay/footprint.h"
#include "methods/replay/step_samples.h"
#include "methods/replay/stream_memories.h"

namespace clbench {
namespace {

struct AgemOptions {
  TORCH_ARG(int64_t, per_class) = 25;
  TORCH_ARG(int64_t, batch) = 256;

 public:
  template <class V>
  void visit(V& v) {
    v("per_class", per_class_,
      "episodic memory per class in samples (official: 25 on MNIST, 13 on CIFAR)", {1, 1e9});
    v("batch", batch_, "memory samples per reference gradient (official EPS_MEM_BATCH_SIZE: 256)",
      {1, 1e7});
  }
};

class Agem : public Method {
 public:
  explicit Agem(AgemOptions o) : opt_(o) {}

  torch::Tensor loss(const Batch& batch) override {
    this_step_.record(batch);
    // This step's reference batch from the memory of earlier tasks' classes.
    reference_ = memory_.samples(0, first_group(task_->index));
    const auto step = static_cast<uint64_t>(training_step(batch).in_stream);
    reference_ =
        shuffled(reference_, mix_seed({uint64_t(run().seed), uint64_t(task_->index), step, 0xA6E}));
    reference_.resize(std::min(reference_.size(), static_cast<size_t>(opt_.batch())));
    return model_loss(batch);
  }

  void after_backward() override {
    if (reference_.empty()) return;
    const auto params = trainable_parameters();
    const auto ref = services().gradients(
        reference_, [this](const Batch& b) { return model_loss(b); }, params);
    const FloatVector g = flat_gradients(params), r = flatten(ref, params);
    if (const auto projected = agem_project(g, r)) set_gradients(params, *projected);
  }

  void after_step() override {
    const auto global = this_step_.gather(services());
    for (int64_t s : global.indices) {
      memory_.add(task_class_group(task_->index, s), {s});
    }
  }

  MemoryFootprint memory() const override {
    return replay_footprint(*ctx_.stream->train_set, memory_.size(), 0, true);
  }

  void state(StateVisitor& v) override { memory_.state(v); }

 private:
  AgemOptions opt_;
  RingMemory memory_{opt_.per_class()};  // one group per (task, internal class)
  StepSamples this_step_;                // this step's samples
  std::vector<int64_t> reference_;       // this step's reference samples (Eq. 11's g_ref)
};

const bool registered_agem = register_method(
    method_entry<Agem, AgemOptions>(
        "agem", "A-GEM (Chaudhry 2019): projection against one reference gradient from memory",
        // The official code's plain SGD: momentum carries earlier, unprojected directions past the
        // constraint (class-IL split-fmnist, seed 0: 19.95% with momentum 0.9, 64.06% without).
        {{"momentum", 0.0}})
        .tiny_settings({{"per_class", 4}, {"batch", 8}})
        .runs_on_shared_classes());

}  // namespace
}  // namespace clbench
