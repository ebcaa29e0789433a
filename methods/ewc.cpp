// Elastic Weight Consolidation (Kirkpatrick et al. 2017, Eq. 3) and online EWC (Schwarz et al.
// 2018, Sec. 4): a quadratic penalty weighted by the diagonal empirical Fisher information.
#include <torch/torch.h>

#include "harness/foundation/random.h"
#include "harness/models/per_sample_gradients.h"
#include "methods/method.h"
#include "methods/quadratic_penalty.h"

namespace clbench {
namespace {

struct EwcOptions {
  TORCH_ARG(double, lambda) = 1000.0;
  TORCH_ARG(bool, online) = false;
  TORCH_ARG(double, gamma) = 1.0;
  TORCH_ARG(int64_t, fisher_samples) = 0;

 public:
  template <class V>
  void visit(V& v) {
    v("lambda", lambda_, "penalty strength (the loss adds lambda/2 * sum F (theta - theta*)^2)",
      {0, 1e12});
    v("online", online_, "online EWC: one running Fisher F <- gamma F + F_t, one anchor");
    v("gamma", gamma_, "online EWC decay of the running Fisher", {0, 1});
    v("fisher_samples", fisher_samples_,
      "training samples per task for the Fisher estimate, drawn at random (0: all of them)",
      {0, 1e12});
  }
};

class Ewc : public Method {
 public:
  explicit Ewc(EwcOptions o) : opt_(o) {}

  torch::Tensor loss(const Batch& batch) override {
    auto total = model_loss(batch);
    const auto params = trainable_parameters();
    for (const auto& anchor : anchors_)
      total = total + quadratic_penalty(params, anchor.fisher, anchor.theta, 0.5 * opt_.lambda());
    return total;
  }

  void end_task(const Task& task) override {
    auto fisher = empirical_fisher(task);
    std::vector<torch::Tensor> theta;
    for (const auto& p : trainable_parameters()) theta.push_back(p.detach().clone());
    if (opt_.online() && !anchors_.empty()) {
      auto& a = anchors_.front();
      for (size_t i = 0; i < fisher.size(); ++i)
        a.fisher[i] = opt_.gamma() * a.fisher[i] + fisher[i];
      a.theta = std::move(theta);
    } else {
      anchors_.push_back({std::move(fisher), std::move(theta)});
    }
  }

  void state(StateVisitor& v) override {
    v.each("anchors", anchors_, [](StateVisitor& v, Anchor& a) {
      v("fisher", a.fisher);
      v("theta", a.theta);
    });
  }

 private:
  struct Anchor {
    std::vector<torch::Tensor> fisher, theta;
  };

  // F = E_x[(d log p(y|x) / d theta)^2] over the task's labelled samples (the empirical Fisher),
  // from per-sample gradients computed a batch at a time.
  std::vector<torch::Tensor> empirical_fisher(const Task& task) {
    auto samples = task.train;
    if (opt_.fisher_samples() > 0 && static_cast<int64_t>(samples.size()) > opt_.fisher_samples()) {
      samples = shuffled(samples, mix_seed({uint64_t(run().seed), uint64_t(task.index), 0xF15E}));
      samples.resize(static_cast<size_t>(opt_.fisher_samples()));
    }
    const auto params = trainable_parameters();
    const auto log_likelihood = [this](const torch::Tensor& logits, const torch::Tensor& y) {
      return torch::log_softmax(mask_logits(logits, y), 1).gather(1, y.unsqueeze(1)).squeeze(1);
    };
    auto fisher = services().sum_over_samples(samples, [&](const Batch& b) {
      return sum_of_sample_gradient_powers(*ctx_.model, b.x, b.y, log_likelihood, params, 2);
    });
    for (auto& f : fisher) f.div_(static_cast<double>(samples.size()));
    return fisher;
  }

  EwcOptions opt_;
  std::vector<Anchor> anchors_;  // one per past task (EWC) or a single running one (online EWC)
};

const bool registered_ewc = register_method(
    method_entry<Ewc, EwcOptions>(
        "ewc", "EWC (Kirkpatrick 2017), diagonal empirical Fisher; ewc.online=true: online EWC")
        .tiny_settings({{"lambda", 10.0}})
        .runs_on_shared_classes());

}  // namespace
}  // namespace clbench
