#include "methods/generative/generative_replay.h"

#include <limits>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/random.h"

namespace clbench::generative {
namespace {

namespace F = torch::nn::functional;

torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels) {
  return F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().reduction(torch::kNone));
}

// loss_fn_kd per sample: -sum_c softmax(target / T)_c log_softmax(scores / T)_c.
torch::Tensor distillation(const torch::Tensor& scores, const torch::Tensor& target, double T) {
  return -(torch::softmax(target / T, 1) * torch::log_softmax(scores / T, 1)).sum(1);
}

torch::Tensor one_hot_float(const torch::Tensor& labels, int64_t classes) {
  return F::one_hot(labels, classes).to(torch::kFloat32);
}

}  // namespace

void GenerativeReplay::on_attach() {
  space_ = PixelSpace(*ctx_.stream->train_set, ctx_.stream->input_shape(), run().device);
  build_generator();
}

double GenerativeReplay::current_weight() const {
  return task_ == nullptr ? 1.0 : 1.0 / static_cast<double>(task_->index + 1);
}

uint64_t GenerativeReplay::step_seed(const Batch& batch, uint64_t salt) const {
  // Training batches (the trainer's and a fit's) carry their step's seed; a batch built by hand
  // falls back to the run, task and step.
  const uint64_t step =
      batch.augment_seed
          ? *batch.augment_seed
          : mix_seed({uint64_t(run().seed), uint64_t(task_ != nullptr ? task_->index : 0),
                      uint64_t(batch.step ? batch.step->in_task : 0), 0x6E00});
  return mix_seed({step, salt});
}

torch::Tensor GenerativeReplay::noise(const Batch& batch, uint64_t salt, int64_t dim) const {
  auto rows = shard_normal_rows(step_seed(batch, salt), batch.global_size, batch.shards,
                                batch.shard, dim, run().device);
  if (rows.size(0) != batch.x.size(0)) {
    throw Error("internal: shard " + std::to_string(batch.shard) + " of " +
                std::to_string(batch.shards) + " has " + std::to_string(batch.x.size(0)) +
                " samples, not its part of a global batch of " + std::to_string(batch.global_size));
  }
  return rows;
}

GenerativeReplay::Replay GenerativeReplay::replay(const Batch& batch) {
  Replay r;
  r.latent = noise(batch, kReplayLatent, latent_dim());
  torch::NoGradGuard no_grad;
  r.pixels = generate(r.latent);
  r.input = space_.to_input(r.pixels);
  r.old_logits = old_model_->forward(r.input);
  return r;
}

torch::Tensor GenerativeReplay::replay_targets(const torch::Tensor& old_logits) const {
  const double T = targets_.temperature;
  auto dist = [&](const torch::Tensor& scores) {
    return targets_.distill ? torch::softmax(scores / T, 1)
                            : one_hot_float(scores.argmax(1), scores.size(1));
  };
  auto targets = torch::zeros_like(old_logits);
  if (!ctx_.task_il) {
    targets.narrow(1, 0, old_classes_).copy_(dist(old_logits.narrow(1, 0, old_classes_)));
  } else if (targets_.task_il == "every-task") {
    for (const auto& t : ctx_.stream->tasks) {
      if (t.class_end > old_classes_) break;
      const int64_t n = t.class_end - t.class_begin;
      targets.narrow(1, t.class_begin, n).copy_(dist(old_logits.narrow(1, t.class_begin, n)));
    }
  } else {
    const auto y = old_logits.narrow(1, 0, old_classes_).argmax(1);
    const auto masked = mask_logits(old_logits, y);  // -inf outside the task of y
    targets =
        targets_.distill ? torch::softmax(masked / T, 1) : one_hot_float(y, old_logits.size(1));
  }
  return targets;
}

torch::Tensor GenerativeReplay::replay_loss(const torch::Tensor& logits,
                                            const torch::Tensor& old_logits) const {
  const double T = targets_.temperature;
  // Hard: cross-entropy with the previous model's argmax; soft: distillation at T.
  auto within = [&](const torch::Tensor& scores, const torch::Tensor& old_scores) {
    return targets_.distill ? distillation(scores, old_scores, T)
                            : cross_entropy(scores, old_scores.argmax(1));
  };
  if (!ctx_.task_il) {
    // The new model over the classes seen so far, the targets over the previous model's (zeros
    // for the new classes, which therefore add nothing to the soft loss).
    const auto scores = logits.narrow(1, 0, seen_classes_);
    const auto old_scores = old_logits.narrow(1, 0, old_classes_);
    if (!targets_.distill) return cross_entropy(scores, old_scores.argmax(1));
    return -(torch::softmax(old_scores / T, 1) *
             torch::log_softmax(scores / T, 1).narrow(1, 0, old_classes_))
                .sum(1);
  }
  if (targets_.task_il == "every-task") {
    torch::Tensor sum;
    int64_t tasks = 0;
    for (const auto& t : ctx_.stream->tasks) {
      if (t.class_end > old_classes_) break;
      const int64_t n = t.class_end - t.class_begin;
      const auto l =
          within(logits.narrow(1, t.class_begin, n), old_logits.narrow(1, t.class_begin, n));
      sum = sum.defined() ? sum + l : l;
      ++tasks;
    }
    return sum / static_cast<double>(tasks);  // sum(loss_replay) / n_replays
  }
  // predicted-task: within the classes of the task of the previous model's argmax.
  const auto y = old_logits.narrow(1, 0, old_classes_).argmax(1);
  const auto scores = mask_logits(logits, y);
  if (!targets_.distill) return cross_entropy(scores, y);
  const auto outside = scores.isinf();
  const auto log_pred = torch::log_softmax(scores / T, 1).masked_fill(outside, 0.0);
  return -(torch::softmax(mask_logits(old_logits, y) / T, 1) * log_pred).sum(1);
}

torch::Tensor GenerativeReplay::current_loss(const torch::Tensor& logits,
                                             const Batch& batch) const {
  return cross_entropy(mask_logits(logits, batch.y), batch.y);
}

torch::Tensor GenerativeReplay::weighted(const torch::Tensor& current,
                                         const torch::Tensor& replayed, const Batch& batch) const {
  const double w = current_weight();
  return w * batch.mean(current) + (1.0 - w) * batch.mean(replayed);
}

void GenerativeReplay::keep_old_model(const Task& task) {
  if (!old_model_) old_model_ = frozen_model();
  copy_weights(*old_model_, *ctx_.model);
  old_classes_ = task.class_end;
}

void GenerativeReplay::base_state(StateVisitor& v) {
  v("old_classes", old_classes_);
  if (old_classes_ == 0) return;
  if (!old_model_) old_model_ = frozen_model();
  v("old_model", *old_model_);
}

}  // namespace clbench::generative
