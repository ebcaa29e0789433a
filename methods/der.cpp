// Dark Experience Replay (Buzzega et al. 2020, Sec. 3, Eq. 4 and 6; official code: Mammoth's
// models/der.py and derpp.py): a reservoir memory over the stream keeps each sample with the logits
// the network gave it when it was inserted; the loss adds alpha * MSE between the network's logits
// on a replayed batch and the stored ones, and DER++ beta * cross-entropy on a second,
// independently drawn replay batch.
#include <optional>

#include <torch/torch.h>

#include "datasets/loader.h"
#include "harness/foundation/random.h"
#include "methods/method.h"
#include "methods/replay/footprint.h"
#include "methods/replay/step_samples.h"
#include "methods/replay/stream_memories.h"

namespace clbench {
namespace {

// DER's keys (Plus = false) and DER++'s, with their own defaults (Mammoth best_args,
// seq-cifar10, buffer 500: DER alpha 0.3; DER++ alpha 0.2, beta 0.5).
template <bool Plus>
struct DerOptions {
  TORCH_ARG(int64_t, buffer) = 500;
  TORCH_ARG(double, alpha) = Plus ? 0.2 : 0.3;
  TORCH_ARG(double, beta) = Plus ? 0.5 : 0.0;
  TORCH_ARG(int64_t, batch) = 0;

 public:
  template <class V>
  void visit(V& v) {
    v("buffer", buffer_, "reservoir memory size in samples (the paper's 200, 500, 5120)", {0, 1e9});
    v("alpha", alpha_, "weight of the MSE between the logits and the stored ones", {0, 1e6});
    if constexpr (Plus) {
      v("beta", beta_, "weight of the cross-entropy on the second replay batch", {0, 1e6});
    }
    v("batch", batch_, "replayed samples per step and draw (0: the training batch size)", {0, 1e7});
  }
};

class Der : public Method {
 public:
  template <bool Plus>
  explicit Der(DerOptions<Plus> o)
      : buffer_(o.buffer()), alpha_(o.alpha()), beta_(o.beta()), batch_(o.batch()) {}

  void on_attach() override {
    memory_ = ReservoirMemory(buffer_, mix_seed({uint64_t(run().seed), 0xDE5}));
  }

  torch::Tensor loss(const Batch& batch) override {
    if (memory_.empty()) {
      const auto logits = ctx_.model->forward(batch.x);
      this_step_.record(batch, logits.detach());
      return classification_loss(logits, batch);
    }
    // Replay draws are global (the same slots on every rank); each shard loads its part,
    // re-augmented (Mammoth's get_data).
    const auto step = static_cast<uint64_t>(training_step(batch).in_stream);
    const auto replay = [&](uint64_t draw) {
      const int64_t want = batch_ > 0 ? batch_ : run().batch_size;
      const auto slots = memory_.draw(
          want, mix_seed({uint64_t(run().seed), uint64_t(task_->index), step, draw, 0xDE5}));
      std::vector<int64_t> samples;
      for (int64_t s : slots) samples.push_back(memory_.samples()[static_cast<size_t>(s)]);
      return std::make_pair(replayed(batch, samples, {draw, 0xDE5}),
                            shard(slots, batch.shard, batch.shards));
    };
    const auto [logged, slots] = replay(1);  // (x', z'): the logits term
    std::vector<torch::Tensor> inputs{batch.x, logged.x};
    std::optional<Batch> labelled;  // (x'', y''): DER++'s second draw
    if (beta_ > 0) inputs.push_back(labelled.emplace(replay(2).first).x);
    const auto logits = model_logits(inputs);
    this_step_.record(batch, logits[0].detach());
    const auto stored = memory_.rows().index_select(
        0, torch::tensor(slots, torch::kLong).to(memory_.rows().device()));
    auto total = classification_loss(logits[0], batch) +
                 alpha_ * logged.mean((logits[1] - stored).pow(2).mean(1));           // Eq. 4
    if (labelled) total = total + beta_ * classification_loss(logits[2], *labelled);  // Eq. 6
    return total;
  }

  // The current batch enters the reservoir after the step with the logits it had before it, as
  // Mammoth's observe() does (outputs.data, after opt.step()).
  void after_step() override {
    const auto global = this_step_.gather(services());
    memory_.add(global, task_->index);
  }

  MemoryFootprint memory() const override {
    const int64_t classes = memory_.rows().defined() ? memory_.rows().size(1) : 0;
    return replay_footprint(*ctx_.stream->train_set, memory_.size(), classes);
  }

  void state(StateVisitor& v) override { memory_.state(v); }

 private:
  int64_t buffer_;
  double alpha_, beta_;
  int64_t batch_;
  ReservoirMemory memory_{0, 0};
  StepSamples this_step_;  // this step's samples, with their logits
};

const bool registered_der = register_method(
    method_entry<Der, DerOptions<false>>(
        "der", "Dark Experience Replay (Buzzega 2020): reservoir memory, MSE on stored logits",
        nlohmann::json::object(), replay_memory("der.buffer"))
        .tiny_settings({{"buffer", 8}}));

const bool registered_derpp = register_method(
    method_entry<Der, DerOptions<true>>(
        "der++", "DER++ (Buzzega 2020): DER plus cross-entropy on a second replay batch",
        nlohmann::json::object(), replay_memory("der++.buffer"))
        .tiny_settings({{"buffer", 8}}));

}  // namespace
}  // namespace clbench
