// Learning without Forgetting (Li & Hoiem 2017, Sec. 3): cross-entropy on the new data plus
// knowledge distillation (temperature T) towards the previous model's outputs on the old classes.
#include <torch/torch.h>

#include "methods/method.h"

namespace clbench {
namespace {

struct LwfOptions {
  TORCH_ARG(double, alpha) = 1.0;
  TORCH_ARG(double, temperature) = 2.0;

 public:
  template <class V>
  void visit(V& v) {
    v("alpha", alpha_, "weight lambda_o of the distillation loss (paper: 1)", {0, 1e6});
    v("temperature", temperature_, "distillation temperature T (paper: 2)", {1e-3, 1e3});
  }
};

class Lwf : public Method {
 public:
  explicit Lwf(LwfOptions o) : opt_(o) {}

  torch::Tensor loss(const Batch& batch) override {
    const auto logits = ctx_.model->forward(batch.x);
    auto total = classification_loss(logits, batch);
    if (old_classes_ == 0) return total;
    const auto old_logits = old_outputs_.of(batch, old_logits_of());
    const double T = opt_.temperature();
    const auto target = torch::softmax(old_logits / T, 1);
    const auto log_pred = torch::log_softmax(logits.narrow(1, 0, old_classes_) / T, 1);
    const auto distill = -(target * log_pred).sum(1);  // modified cross-entropy, Eq. 2
    return total + opt_.alpha() * batch.mean(distill);
  }

  // Alg. 1: the old network's responses on the new task's images, recorded before it trains.
  void on_begin_task(const Task& task) override {
    if (old_classes_ == 0) return;
    old_outputs_.record(services(), *ctx_.stream->train_set, train_indices(task), old_classes_,
                        old_logits_of());
  }

  void end_task(const Task& task) override {
    old_model_ = frozen_model();
    copy_weights(*old_model_, *ctx_.model);
    old_classes_ = task.class_end;
  }

  void state(StateVisitor& v) override {
    v("old_classes", old_classes_);
    if (old_classes_ == 0) return;
    if (!old_model_) old_model_ = frozen_model();
    v("old_model", *old_model_);
  }

 private:
  FrozenOutputs::Forward old_logits_of() {
    return [this](const Batch& b) { return old_model_->forward(b.x).narrow(1, 0, old_classes_); };
  }

  LwfOptions opt_;
  FrozenOutputs old_outputs_;
  Classifier old_model_{nullptr};
  int64_t old_classes_ = 0;
};

const bool registered_lwf = register_method(
    method_entry<Lwf, LwfOptions>(
        "lwf", "Learning without Forgetting (Li & Hoiem 2017): distillation to the old model, T=2")
        .runs_on_shared_classes());

}  // namespace
}  // namespace clbench
