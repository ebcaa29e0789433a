// Elastic Weight Consolidation (Kirkpatrick et al. 2017, Eq. 3) and online EWC (Schwarz et al.
// 2018, Sec. 4): a quadratic penalty weighted by the diagonal empirical Fisher information.
#include <torch/torch.h>

#include "harness/comm.h"
#include "harness/loader.h"
#include "methods/method.h"

namespace clbench {
namespace {

struct EwcOptions {
  TORCH_ARG(double, lambda) = 1000.0;
  TORCH_ARG(bool, online) = false;
  TORCH_ARG(double, gamma) = 1.0;
  TORCH_ARG(int64_t, fisher_samples) = 1000;

 public:
  template <class V>
  void visit(V& v) {
    v("lambda", lambda_, "penalty strength (the loss adds lambda/2 * sum F (theta - theta*)^2)");
    v("online", online_, "online EWC: one running Fisher F <- gamma F + F_t, one anchor");
    v("gamma", gamma_, "online EWC decay of the running Fisher");
    v("fisher_samples", fisher_samples_, "training samples per task for the Fisher estimate");
  }
};

class Ewc : public Method {
 public:
  explicit Ewc(EwcOptions o) : opt_(o) {}

  torch::Tensor loss(const Batch& batch) override {
    auto total = Method::loss(batch);
    const auto params = trainable_parameters();
    for (const auto& anchor : anchors_) {
      for (size_t i = 0; i < params.size(); ++i) {
        total = total + 0.5 * opt_.lambda() *
                            (anchor.fisher[i] * (params[i] - anchor.theta[i]).pow(2)).sum();
      }
    }
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

  void save(torch::serialize::OutputArchive& a) const override {
    save_int(a, "anchors", static_cast<int64_t>(anchors_.size()));
    for (size_t k = 0; k < anchors_.size(); ++k) {
      save_tensors(a, "fisher" + std::to_string(k), anchors_[k].fisher);
      save_tensors(a, "theta" + std::to_string(k), anchors_[k].theta);
    }
  }

  void load(torch::serialize::InputArchive& a) override {
    anchors_.resize(static_cast<size_t>(load_int(a, "anchors")));
    for (size_t k = 0; k < anchors_.size(); ++k) {
      anchors_[k].fisher = load_tensors(a, "fisher" + std::to_string(k));
      anchors_[k].theta = load_tensors(a, "theta" + std::to_string(k));
    }
  }

 private:
  struct Anchor {
    std::vector<torch::Tensor> fisher, theta;
  };

  // F = E_x[(d log p(y|x) / d theta)^2] over the task's labelled samples, one sample at a time;
  // each rank takes its share of one global sample and the sums are reduced across ranks.
  std::vector<torch::Tensor> empirical_fisher(const Task& task) {
    const auto params = trainable_parameters();
    std::vector<torch::Tensor> fisher;
    for (const auto& p : params) fisher.push_back(torch::zeros_like(p));
    auto order =
        shuffled(task.train, mix_seed({uint64_t(ctx_.seed), uint64_t(task.index), 0xF15E}));
    order.resize(std::min<size_t>(order.size(), static_cast<size_t>(opt_.fisher_samples())));
    // Sums per shard, then over shards in order: the same additions on 1 or 2 ranks.
    for (int s : ctx_.shards) {
      std::vector<torch::Tensor> part;
      for (const auto& p : params) part.push_back(torch::zeros_like(p));
      for (int64_t index : shard(order, s, ctx_.shard_count)) {
        Batch b = load_shard(*ctx_.stream, *ctx_.stream->train_set, {index}, 0, 1, ctx_.device);
        const auto logits = mask_logits(ctx_.model->forward(b.x), b.y);
        const auto log_p = torch::log_softmax(logits, 1).gather(1, b.y.unsqueeze(1)).sum();
        const auto grads = torch::autograd::grad({log_p}, params, {}, false, false, true);
        for (size_t i = 0; i < params.size(); ++i) {
          if (grads[i].defined()) part[i].add_(grads[i].pow(2));
        }
      }
      for (size_t i = 0; i < params.size(); ++i) fisher[i].add_(part[i]);
    }
    comm().allreduce_sum(fisher);
    for (auto& f : fisher) f.div_(static_cast<double>(order.size()));
    return fisher;
  }

  EwcOptions opt_;
  std::vector<Anchor> anchors_;  // one per past task (EWC) or a single running one (online EWC)
};

const bool registered = register_method(method_entry<Ewc, EwcOptions>(
    "ewc", "EWC (Kirkpatrick 2017), diagonal empirical Fisher; ewc.online=true: online EWC"));

}  // namespace
}  // namespace clbench
