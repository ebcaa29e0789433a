// Memory Aware Synapses (Aljundi et al. 2018, Sec. 4, Eq. 4 and 5; official code
// rahafaljundi/MAS-Memory-Aware-Synapses, MAS_utils/MAS_based_Training.py): a parameter's
// importance is how much the squared L2 norm of the network's output moves with it, measured on
// the task's samples without labels; later tasks pay lambda * sum Omega (theta - theta*)^2.
// As the official code: the output is the logits of the task's head (class-IL: the classes seen so
// far), in eval mode; the absolute value is taken of each batch's summed gradient (batches of
// mas.batch; mas.batch = 1 is the paper's per-sample Eq. 4), averaged over the samples; the
// importances of the tasks are summed (MAS_Omega_Acuumelation), no 1/2 in the penalty.
#include <torch/torch.h>

#include "methods/method.h"
#include "methods/quadratic_penalty.h"

namespace clbench {
namespace {

struct MasOptions {
  TORCH_ARG(double, lambda) = 1.0;
  TORCH_ARG(int64_t, batch) = 200;
  TORCH_ARG(double, alpha) = 0.0;

 public:
  template <class V>
  void visit(V& v) {
    v("lambda", lambda_, "penalty strength (official reg_lambda: 1)", {0, 1e12});
    v("batch", batch_,
      "samples per importance gradient (official: 200; 1: the paper's per-sample Eq. 4)", {1, 1e7});
    v("alpha", alpha_,
      "0: importances summed over tasks (official); in (0,1): Avalanche's running "
      "alpha * old + (1 - alpha) * new",
      {0, 1});
  }
};

class Mas : public Method {
 public:
  explicit Mas(MasOptions o) : opt_(o) {}

  torch::Tensor loss(const Batch& batch) override {
    auto total = model_loss(batch);
    if (omega_.empty()) return total;
    return total +
           quadratic_penalty(trainable_parameters(), omega_, theta_, opt_.lambda());  // Eq. 5
  }

  void end_task(const Task& task) override {
    auto omega = importance(task);
    if (omega_.empty()) {
      omega_ = std::move(omega);
    } else {
      const double a = opt_.alpha();
      for (size_t i = 0; i < omega.size(); ++i)
        omega_[i] = a > 0 ? a * omega_[i] + (1 - a) * omega[i] : omega_[i] + omega[i];
    }
    theta_.clear();
    for (const auto& p : trainable_parameters()) theta_.push_back(p.detach().clone());
  }

  void state(StateVisitor& v) override {
    v("omega", omega_);
    v("theta", theta_);
  }

 private:
  // Omega = (1/N) sum over batches |d/dtheta sum_{x in batch} ||F(x)||^2| (Eq. 4 with batches).
  std::vector<torch::Tensor> importance(const Task& task) {
    const auto params = trainable_parameters();
    const int64_t begin = ctx_.task_il ? task.class_begin : 0, width = task.class_end - begin;
    const bool was_training = ctx_.model->is_training();
    ctx_.model->eval();
    std::vector<torch::Tensor> omega;
    for (const auto& p : params) omega.push_back(torch::zeros_like(p));
    const auto& samples = task.train;
    const auto B = static_cast<size_t>(opt_.batch());
    for (size_t at = 0; at < samples.size(); at += B) {
      const std::vector<int64_t> batch(
          samples.begin() + static_cast<std::ptrdiff_t>(at),
          samples.begin() + static_cast<std::ptrdiff_t>(std::min(samples.size(), at + B)));
      const auto squared_norm = [&](const Batch& b) {
        return b.mean(ctx_.model->forward(b.x).narrow(1, begin, width).pow(2).sum(1));
      };
      const auto grads = services().gradients(batch, squared_norm, params);  // of the batch mean
      for (size_t i = 0; i < omega.size(); ++i)
        omega[i].add_(grads[i].abs() * static_cast<double>(batch.size()));
    }
    ctx_.model->train(was_training);
    for (auto& o : omega) o.div_(static_cast<double>(samples.size()));
    return omega;
  }

  MasOptions opt_;
  std::vector<torch::Tensor> omega_, theta_;
};

const bool registered_mas = register_method(
    method_entry<Mas, MasOptions>(
        "mas", "MAS (Aljundi 2018): importance from the output's squared L2 norm, EWC-like penalty")
        .tiny_settings({{"batch", 7}})
        .runs_on_shared_classes());

}  // namespace
}  // namespace clbench
