// Experience Replay (Chaudhry et al. 2019, "On Tiny Episodic Memories", Alg. 1): every batch is the
// current batch plus a batch drawn from a small memory. The memory is class-balanced: after each
// task every seen class keeps an equal share of er.buffer samples, chosen at random (where tasks
// share their classes, domain-il, every seen (task, class) pair keeps one).
#include <map>

#include <torch/torch.h>

#include "harness/foundation/random.h"
#include "methods/method.h"
#include "methods/replay/class_balanced.h"
#include "methods/replay/footprint.h"

namespace clbench {
namespace {

struct ErOptions {
  TORCH_ARG(int64_t, buffer) = 500;
  TORCH_ARG(int64_t, batch) = 0;

 public:
  template <class V>
  void visit(V& v) {
    v("buffer", buffer_, "memory size in samples, shared equally by the seen classes", {0, 1e9});
    v("batch", batch_, "replayed samples per step (0: the training batch size)", {0, 1e7});
  }
};

class Er : public Method {
 public:
  explicit Er(ErOptions o) : opt_(o) {}

  torch::Tensor loss(const Batch& batch) override {
    if (memory_.empty()) return model_loss(batch);
    // The replay draw is global (same RNG stream on every rank); each rank loads its shard.
    const int64_t want = opt_.batch() > 0 ? opt_.batch() : run().batch_size;
    // One draw per optimizer step, whatever number of shards computed it.
    const auto step = static_cast<uint64_t>(training_step(batch).in_task);
    auto draw = shuffled(memory_.samples(),
                         mix_seed({uint64_t(run().seed), uint64_t(task_->index), step, 0xE5}));
    draw.resize(std::min<size_t>(draw.size(), static_cast<size_t>(want)));
    return model_loss(Batch::concat(batch, replayed(batch, draw, {0xE5})));
  }

  void end_task(const Task& task) override {
    // (task, class) group -> its samples: per class where each class belongs to one task.
    std::map<int64_t, std::vector<int64_t>> candidates;
    for (int64_t i : task.train) candidates[task_class_group(task.index, i)].push_back(i);
    for (auto& [group, pool] : candidates) {
      const auto c = static_cast<uint64_t>(group - first_group(task.index));
      pool = shuffled(pool, mix_seed({uint64_t(run().seed), uint64_t(task.index), c, 0xB0F}));
    }
    memory_.update(candidates);
  }

  MemoryFootprint memory() const override {
    return replay_footprint(*ctx_.stream->train_set,
                            static_cast<int64_t>(memory_.samples().size()));
  }

  void state(StateVisitor& v) override { memory_.state(v); }

 private:
  ErOptions opt_;
  ClassBalancedMemory memory_{opt_.buffer()};  // indices into the training set
};

const bool registered_er = register_method(
    method_entry<Er, ErOptions>(
        "er",
        "Experience Replay (Chaudhry 2019): current batch + batch from a class-balanced memory",
        nlohmann::json::object(), replay_memory("er.buffer", true))
        .tiny_settings({{"buffer", 8}})
        .runs_on_shared_classes());

}  // namespace
}  // namespace clbench
