#pragma once
// What DGR and RtF share (van de Ven's train/train_task_based.py train_cl with replay_mode
// "generative"): after task t - 1 a frozen copy of the model labels the samples of a frozen copy of
// the generator; while training task t every step replays a generated batch of the current batch's
// size, and the loss is (1/t) L_current + (1 - 1/t) L_replay (rnt = 1/context).
//
// Replay targets (models/classifier.py train_a_batch, models/utils/loss_functions.py loss_fn_kd):
// hard (default: replay_targets "hard", DGR) = cross-entropy with the previous model's argmax;
// soft (--distill) = -sum_c softmax(old / T)_c log_softmax(new / T)_c, not scaled by T^2. In
// class-IL the previous model's scores are those of its classes (neg_samples "all-so-far": the
// target's zeros for the new classes) and the new model's those of the classes seen so far; in
// task-IL (per_context) every replayed sample is replayed once for each previous task, within
// that task's classes, and the losses are averaged over the tasks (`task_il_targets` "every-task";
// "predicted-task" replays it only within the task of the previous model's argmax instead).
//
// Randomness: the generated batch (its latent codes) and every reparameterisation noise are rows
// of global standard-normal matrices drawn from the step's seed (its augmentation seed, unique
// per run, task, epoch or fit, and step), so every rank generates the same global batch and each
// shard decodes its own rows: the same bits on any number of ranks.
#include <cstdint>
#include <string>

#include <torch/types.h>

#include "methods/generative/vae.h"
#include "methods/method.h"

namespace clbench::generative {

struct ReplayTargets {
  bool distill = false;                // soft targets (van de Ven's --distill)
  double temperature = 2.0;            // --temp
  std::string task_il = "every-task";  // every-task | predicted-task
};

// The keys of the replay targets, which dgr and rtf share (`hard` names their hard targets).
template <class V>
void visit_replay_targets(V& v, bool& distill, double& temperature, std::string& task_il,
                          const std::string& hard) {
  v("distill", distill,
    "soft targets: distillation of the previous model at `temperature` (van de Ven's --distill); "
    "false: its hard argmax (" +
        hard + ")");
  v("temperature", temperature, "distillation temperature (van de Ven's --temp: 2)", {1e-3, 1e3});
  v("task_il_targets", task_il,
    "task-IL replay: every-task (each replayed sample within every previous task's classes, "
    "losses averaged, as van de Ven's code) or predicted-task (within the task of the previous "
    "model's argmax)",
    {"every-task", "predicted-task"});
}

// Salts of the step seed, one per random draw.
enum Draw : uint64_t {
  kReplayLatent = 0x6E01,  // z of the replayed batch
  kCurrentNoise = 0x6E02,  // reparameterisation of the current batch
  kReplayNoise = 0x6E03,   // reparameterisation of the replayed batch
};

class GenerativeReplay : public Method {
 public:
  explicit GenerativeReplay(ReplayTargets targets) : targets_(std::move(targets)) {}

  // 1/t for the task being trained (t counts from 1); the replay's weight is 1 - 1/t.
  double current_weight() const;
  // Whether there is a previous model and generator to replay from (from the second task on).
  bool replaying() const { return old_classes_ > 0; }

  struct Replay {
    torch::Tensor latent;      // z, this shard's rows {n, z_dim}
    torch::Tensor pixels;      // the previous generator's images {n, C, H, W} in (0, 1)
    torch::Tensor input;       // the same as model input (the dataset's conversion)
    torch::Tensor old_logits;  // the previous model's logits on them {n, classes}
  };
  // This shard's rows of the step's replayed batch: as many as `batch` has, its global batch of
  // batch.global_size samples generated from the step's seed.
  Replay replay(const Batch& batch);
  // The targets of replayed samples as distributions over all classes {n, classes}: one-hot at
  // the argmax (hard) or softmax(old / T) (soft), over the previous model's classes (class-IL), or
  // one distribution per previous task within its classes (task-IL, every-task; predicted-task:
  // only in the task of the argmax).
  torch::Tensor replay_targets(const torch::Tensor& old_logits) const;
  // Per-sample loss of the model's logits on replayed samples against those targets {n}.
  torch::Tensor replay_loss(const torch::Tensor& logits, const torch::Tensor& old_logits) const;

  // This shard's rows of the step's global {global_size, dim} standard normals of draw `salt`.
  torch::Tensor noise(const Batch& batch, uint64_t salt, int64_t dim) const;
  Classifier old_model() const { return old_model_; }

 protected:
  void on_attach() final;  // the stream's pixel space, then build_generator()
  // The method's generator (DGR's VAE, RtF's decoder on the classifier), built once attached.
  virtual void build_generator() = 0;
  // The previous generator's pixels for latent codes z (no gradient).
  virtual torch::Tensor generate(const torch::Tensor& z) = 0;
  virtual int64_t latent_dim() const = 0;

  // A seed for draw `salt` of the step that `batch` belongs to.
  uint64_t step_seed(const Batch& batch, uint64_t salt) const;
  // Cross-entropy per sample over the scenario's classes (what classification_loss averages).
  torch::Tensor current_loss(const torch::Tensor& logits, const Batch& batch) const;
  // (1/t) current + (1 - 1/t) replay, each this shard's share of the global batch mean.
  torch::Tensor weighted(const torch::Tensor& current, const torch::Tensor& replayed,
                         const Batch& batch) const;
  // Keeps a frozen copy of the model as the labeller for the next task.
  void keep_old_model(const Task& task);
  void base_state(StateVisitor& v);

  ReplayTargets targets_;
  PixelSpace space_;
  Classifier old_model_{nullptr};
  int64_t old_classes_ = 0;  // classes of the previous model (0: nothing to replay yet)
};

}  // namespace clbench::generative
