// iCaRL (Rebuffi et al. 2017, Sec. 2; Alg. 1-5), as Mammoth's models/icarl.py runs it: each task
// trains on its data plus the exemplars of the old classes, with one sigmoid BCE whose targets are
// the old network's sigmoid outputs on the old classes and one-hot on the rest (classification and
// distillation in one, Alg. 3), plus an explicit weight decay wd * sum theta^2; after the task the
// exemplars of each new class are chosen by herding on L2-normalised features (Alg. 4) within a
// class-balanced budget (old classes keep their first m, Alg. 5), and prediction is the nearest
// mean of exemplars (Alg. 1). icarl.loss = ce_kd is PyCIL's CE + softmax KD (T = 2) instead. The
// linear head's predictions are kept as the second prediction "linear".
#include <unordered_map>

#include <torch/torch.h>

#include "methods/method.h"
#include "methods/replay/class_balanced.h"
#include "methods/replay/footprint.h"
#include "methods/replay/herding.h"

namespace clbench {
namespace {

struct IcarlOptions {
  TORCH_ARG(int64_t, memory) = 2000;
  TORCH_ARG(std::string, loss) = "bce";
  TORCH_ARG(double, temperature) = 2.0;
  TORCH_ARG(double, wd) = 1e-5;
  TORCH_ARG(bool, all_sample_means) = false;

 public:
  template <class V>
  void visit(V& v) {
    v("memory", memory_, "exemplars K, shared equally by the seen classes (paper: 2000)", {0, 1e9});
    v("loss", loss_, "bce (paper, Mammoth) | ce_kd (PyCIL: cross-entropy + softmax distillation)",
      {"bce", "ce_kd"});
    v("temperature", temperature_, "distillation temperature of ce_kd (PyCIL: 2)", {1e-3, 1e3});
    v("wd", wd_, "weight decay added to the loss as wd * sum theta^2 (Mammoth opt_wd: 1e-5)",
      {0, 1});
    v("all_sample_means", all_sample_means_,
      "class means from all training samples of the class (Mammoth's compute_theoretical_best) "
      "instead of its exemplars (paper)");
  }
};

class Icarl : public Method {
 public:
  explicit Icarl(IcarlOptions o) : opt_(o) {}

  // Alg. 2: the task's data and the exemplars of the old classes.
  std::vector<int64_t> train_indices(const Task& task) const override {
    return exemplars_.after(task.train);
  }

  torch::Tensor loss(const Batch& batch) override {
    auto logits = ctx_.model->forward(batch.x);
    const int64_t past = task_->class_begin;
    torch::Tensor old;
    if (past > 0) old = old_outputs_.of(batch, old_logits_of());
    torch::Tensor total;
    if (opt_.loss() == "bce") {
      auto target = torch::one_hot(batch.y, logits.size(1)).to(logits.scalar_type());
      if (past > 0) target.narrow(1, 0, past).copy_(torch::sigmoid(old));
      const auto per_sample =
          torch::binary_cross_entropy_with_logits(logits, target, {}, {}, at::Reduction::None)
              .mean(1);
      total = batch.mean(per_sample);
    } else {
      total = classification_loss(logits, batch);
      if (past > 0) {
        const double T = opt_.temperature();
        const auto kd =
            -(torch::softmax(old / T, 1) * torch::log_softmax(logits.narrow(1, 0, past) / T, 1))
                 .sum(1);
        total = total + batch.mean(kd);
      }
    }
    if (opt_.wd() > 0) {
      for (const auto& p : ctx_.model->parameters()) total = total + opt_.wd() * p.pow(2).sum();
    }
    return total;
  }

  // The old network's outputs on the task's samples and the exemplars, recorded before it trains.
  void on_begin_task(const Task& task) override {
    if (task.class_begin == 0) return;
    old_outputs_.record(services(), *ctx_.stream->train_set, train_indices(task), task.class_begin,
                        old_logits_of());
  }

  void end_task(const Task& task) override {
    if (!old_model_) old_model_ = frozen_model();
    copy_weights(*old_model_, *ctx_.model);
    // Alg. 4 for the new classes, up to the quota they will get; Alg. 5 trims everyone.
    herd_task(
        exemplars_, task, [&](int64_t i) { return internal_class(i); },
        [&](const std::vector<int64_t>& samples) { return features_of(samples); });
    compute_means(task);
  }

  // Alg. 1: the class whose mean is nearest to the normalised feature.
  torch::Tensor logits(const Batch& batch) override {
    if (!means_.defined()) return ctx_.model->forward(batch.x);
    const auto f = normalized(ctx_.model->backbone->forward(batch.x));
    auto score = -(f.unsqueeze(1) - means_.unsqueeze(0)).pow(2).sum(2);
    return score.masked_fill(has_mean_.logical_not().unsqueeze(0),
                             -std::numeric_limits<float>::infinity());
  }

  std::vector<std::string> other_predictions() const override { return {"linear"}; }
  torch::Tensor other_logits(const std::string&, const Batch& batch) override {
    return ctx_.model->forward(batch.x);
  }

  // The network and the class means it predicts with (the exemplars are counted as memory).
  int64_t stored_parameters() const override {
    return Method::stored_parameters() + (means_.defined() ? means_.numel() : 0);
  }

  MemoryFootprint memory() const override {
    return replay_footprint(*ctx_.stream->train_set,
                            static_cast<int64_t>(exemplars_.samples().size()));
  }

  void state(StateVisitor& v) override {
    exemplars_.state(v);
    bool trained = means_.defined();
    v("trained", trained);
    if (!trained) return;
    v("means", means_);
    v("has_mean", has_mean_);
    if (!old_model_) old_model_ = frozen_model();
    v("old_model", *old_model_);
  }

 private:
  FrozenOutputs::Forward old_logits_of() {
    return [this](const Batch& b) {
      return old_model_->forward(b.x).narrow(1, 0, task_->class_begin);
    };
  }

  static torch::Tensor normalized(const torch::Tensor& f) {
    return f / f.norm(2, 1, true);  // Mammoth: no epsilon
  }

  // The normalised features of `samples` (unaugmented, eval mode), row i for samples[i], on
  // every rank (each sample's row is placed in a table of zeros, so the sum over shards is it).
  torch::Tensor features_of(const std::vector<int64_t>& samples) {
    return services().sample_rows(samples, feature_dim(), [&](const Batch& b) {
      return normalized(ctx_.model->backbone->forward(b.x));
    });
  }

  // mu_y = the mean of the normalised features of class y's exemplars (or of all its training
  // samples), recomputed with the current network for every seen class.
  void compute_means(const Task& task) {
    std::vector<int64_t> samples = exemplars_.samples();
    if (opt_.all_sample_means()) {
      samples.clear();
      for (const auto& t : ctx_.stream->tasks) {
        if (t.index <= task.index) samples.insert(samples.end(), t.train.begin(), t.train.end());
      }
    }
    const int64_t C = ctx_.stream->num_classes(), d = feature_dim();
    const auto sums = services().sum_over_samples(samples, [&](const Batch& b) {
      auto sum = torch::zeros({C, d}, torch::dtype(torch::kFloat32).device(run().device));
      auto count = torch::zeros({C}, torch::dtype(torch::kFloat32).device(run().device));
      if (b.indices.empty()) return std::vector<torch::Tensor>{sum, count};
      sum.index_add_(0, b.y, normalized(ctx_.model->backbone->forward(b.x)));
      count.index_add_(0, b.y, torch::ones({b.y.size(0)}, count.options()));
      return std::vector<torch::Tensor>{sum, count};
    });
    has_mean_ = sums[1] > 0;
    means_ = sums[0] / sums[1].clamp_min(1).unsqueeze(1);
  }

  int64_t feature_dim() const { return ctx_.model->backbone->feature_dim(); }

  IcarlOptions opt_;
  ClassBalancedMemory exemplars_{opt_.memory()};
  torch::Tensor means_, has_mean_;  // {C, d} and {C}
  Classifier old_model_{nullptr};
  FrozenOutputs old_outputs_;
};

const bool registered_icarl = register_method(
    method_entry<Icarl, IcarlOptions>(
        "icarl",
        "iCaRL (Rebuffi 2017): herding exemplars, BCE distillation, nearest-mean prediction",
        nlohmann::json::object(), replay_memory("icarl.memory", true))
        .tiny_settings({{"memory", 8}}));

}  // namespace
}  // namespace clbench
