// FM-LoRA (Yu et al., CVPRW 2025, arXiv 2504.08823), three parts:
// - F-LoRA (Sec. 3.1): dW_t = A_shared M_t N_t^T B_shared^T. A_shared {out, r_max} and B_shared
//   {in, r_max} are learned on the first task, then frozen; each task adds r_t x r_t matrices M_t,
//   N_t (2 r_t^2 numbers per adapted matrix) over the first r_t columns of the bases. Earlier
//   tasks' M_k, N_k are frozen [assumption: the paper keeps them per task].
// - DRS (Sec. 3.2): r_t from the task's complexity (see select_rank in fm_lora.h), measured as the
//   validation loss after a short warm-up on the task [warm-up schedule: assumption, keys below].
// - DMP (Sec. 3.3): shared learnable prompt tokens inserted after the class token, trained on
//   every task [length and place: assumption].
// Unpublished choices [assumptions]: q,v of every block, r_max 10, task 1 at rank r_max,
// M_t = I and N_t = 0 at the start (so dW_t starts at 0), bases drawn like LoRA's A, one growing
// head with the loss on the current task's classes (as SD-LoRA's code), SGD as SD-LoRA's code.
#include "methods/adapters/fm_lora.h"

#include <cmath>
#include <limits>
#include <numeric>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/text.h"
#include "methods/adapters/adapter_method.h"

namespace clbench {

int64_t select_rank(double complexity, const std::vector<int64_t>& ranks,
                    const std::vector<double>& weights, const std::vector<double>& biases,
                    double tau, const std::vector<double>& gumbel) {
  size_t best = 0;
  double best_logit = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < ranks.size(); ++i) {
    const double logit = (weights[i] * complexity + biases[i]) / tau + gumbel[i];
    if (logit > best_logit) best = i, best_logit = logit;
  }
  return ranks[best];
}

namespace {

struct FmLoraOptions {
  TORCH_ARG(int64_t, rank) = 10;
  TORCH_ARG(std::vector<std::string>, parts) = {"q", "v"};
  TORCH_ARG(std::vector<int64_t>, ranks) = {2, 4, 6, 8, 10};
  TORCH_ARG(std::vector<double>, rank_weights) = {};
  TORCH_ARG(std::vector<double>, rank_biases) = {};
  TORCH_ARG(double, tau) = 1.0;
  TORCH_ARG(bool, gumbel) = false;
  TORCH_ARG(int64_t, warmup_steps) = 20;
  TORCH_ARG(int64_t, warmup_samples) = 640;
  TORCH_ARG(double, warmup_lr) = 0.01;
  TORCH_ARG(int64_t, prompt_length) = 4;

 public:
  template <class V>
  void visit(V& v) {
    v("rank", rank_, "r_max: columns of the shared bases; task 1 trains at this rank", {1, 4096});
    v("parts", parts_, "which slices of the fused qkv are adapted [assumption: q,v]",
      qkv_parts_spec());
    v("ranks", ranks_, "DRS candidate ranks, each <= rank [assumption]",
      integers().distinct().at_least(1), {1, 4096});
    v("rank_weights", rank_weights_, "DRS w_r per candidate (empty: 2 r / r_max)", numbers());
    v("rank_biases", rank_biases_,
      "DRS b_r per candidate (empty: -(r / r_max)^2; 0s: the paper's formula)", numbers());
    v("tau", tau_, "DRS temperature", {1e-6, 1e6});
    v("gumbel", gumbel_, "add seeded Gumbel noise before taking the most probable rank");
    v("warmup_steps", warmup_steps_, "DRS warm-up SGD steps on the new task before measuring H",
      {0, 1e6});
    v("warmup_samples", warmup_samples_,
      "training samples drawn for the warm-up; 1/5 of them validate", {2, 1e12});
    v("warmup_lr", warmup_lr_, "DRS warm-up learning rate (SGD, momentum 0.9)", {1e-12, 1e3});
    v("prompt_length", prompt_length_, "DMP: shared prompt tokens after the class token (0: none)",
      {0, 4096});
  }

  // The rules that join keys, checked when the run is planned.
  void check(const std::string& prefix) const {
    for (int64_t r : ranks_) {
      if (r > rank_) {
        throw Error("bad value \"" + list_text(ranks_) + "\" for key '" + prefix + ".ranks': " +
                    std::to_string(r) + " is above " + prefix + ".rank = " + std::to_string(rank_));
      }
    }
    for (const auto& [key, list] :
         {std::pair{"rank_weights", &rank_weights_}, std::pair{"rank_biases", &rank_biases_}}) {
      if (!list->empty() && list->size() != ranks_.size()) {
        throw Error("bad value \"" + list_text(*list) + "\" for key '" + prefix + "." + key +
                    "': it needs one number per rank of " + prefix + ".ranks (" +
                    std::to_string(ranks_.size()) + "), or none");
      }
    }
  }
};

class FmLora : public AdapterMethod, public RankSelector {
 public:
  explicit FmLora(FmLoraOptions o) : opt_(std::move(o)), parts_(qkv_parts(opt_.parts())) {
    const double rmax = static_cast<double>(opt_.rank());
    ranks_ = opt_.ranks();
    weights_ = opt_.rank_weights();
    biases_ = opt_.rank_biases();
    if (weights_.empty()) {
      for (auto r : ranks_) weights_.push_back(2.0 * static_cast<double>(r) / rmax);
    }
    if (biases_.empty()) {
      for (auto r : ranks_) biases_.push_back(-std::pow(static_cast<double>(r) / rmax, 2));
    }
  }

  void init_adapters() override {
    const int64_t r = opt_.rank();
    for_each_linear([&](size_t, QkvPart, LoraLinear& linear) {
      const double a = 1.0 / std::sqrt(static_cast<double>(r));
      const double b = 1.0 / std::sqrt(static_cast<double>(linear.in_features()));
      auto A = torch::empty({linear.out_features(), r}).uniform_(-a, a, generator());
      auto Bt = torch::empty({r, linear.in_features()}).uniform_(-b, b, generator());
      bases_.push_back(A.to(run().device).requires_grad_(true));
      bases_.push_back(Bt.to(run().device).requires_grad_(true));
    });
    if (opt_.prompt_length() > 0) {
      prompt_ = torch::empty({opt_.prompt_length(), vit().options.dim()})
                    .normal_(0.0, 0.02, generator())
                    .to(run().device)
                    .requires_grad_(true);
      hooks().tokens = prompt_;  // DMP's shared tokens at the ViT's input (Sec. 3.3)
    }
  }

  void on_begin_task(const Task& task) override {
    const int64_t t = task.index;
    RankSelection s;
    s.rank = opt_.rank();
    if (t > 0) {
      for (auto& b : bases_) b.requires_grad_(false);
      s = select(task);
    }
    selections_.push_back(s);
    for_each_linear([&](size_t layer, QkvPart p, LoraLinear& linear) {
      for (auto& u : linear.updates) freeze(layer, p, u);
      linear.updates.push_back(make_update(layer, p, s.rank, t));
    });
  }

  std::vector<torch::Tensor> adapter_parameters() override {
    std::vector<torch::Tensor> params;
    if (task_->index == 0) params = bases_;
    if (prompt_.defined()) params.push_back(prompt_);
    for_each_linear([&](size_t, QkvPart, LoraLinear& linear) {
      auto& u = linear.updates.back();
      params.push_back(u.factors[1]);
      params.push_back(u.factors[2]);
    });
    return params;
  }

  int64_t stored_parameters() const override {
    int64_t n = count_parameters(ctx_.model->head->parameters());
    for (const auto& t : extra_parameters()) n += t.numel();
    for (const auto& layer : layers()) {
      for (auto* linear : layer->linears()) {
        for (const auto& u : linear->updates) n += u.factors[1].numel() + u.factors[2].numel();
      }
    }
    return n;
  }

  const std::vector<RankSelection>& selections() const override { return selections_; }

  void state(StateVisitor& v) override {
    v("fm_lora.bases", bases_);
    v("fm_lora.prompt", prompt_);
    v.each("fm_lora.selections", selections_, [](StateVisitor& v, RankSelection& s) {
      v("complexity", s.complexity);
      v("gumbel", s.gumbel);
      v("rank", s.rank);
    });
    visit_updates(v);
  }

  // Every update's outer factors are views of the shared bases; the ViT's hooks hold the prompt.
  void after_load() override {
    for_each_linear([&](size_t layer, QkvPart p, LoraLinear& linear) {
      for (auto& u : linear.updates) {
        const int64_t r = u.factors[1].size(0);
        u.factors[0] = base_a(layer, p).narrow(1, 0, r);
        u.factors[3] = base_bt(layer, p).narrow(0, 0, r);
      }
    });
    if (prompt_.defined()) hooks().tokens = prompt_;
  }

 protected:
  std::vector<QkvPart> adapted_parts() const override { return parts_; }
  std::vector<torch::Tensor> extra_parameters() const override {
    auto out = bases_;
    if (prompt_.defined()) out.push_back(prompt_);
    return out;
  }

 private:
  size_t linear_index(size_t layer, QkvPart p) const {
    size_t k = 0;
    while (parts_[k] != p) ++k;
    return layer * parts_.size() + k;
  }
  torch::Tensor& base_a(size_t layer, QkvPart p) { return bases_[2 * linear_index(layer, p)]; }
  torch::Tensor& base_bt(size_t layer, QkvPart p) { return bases_[2 * linear_index(layer, p) + 1]; }

  // An earlier task's update: M, N frozen; the base views are re-taken so that, once the bases
  // are frozen, no gradient path into them remains.
  void freeze(size_t layer, QkvPart p, LowRankUpdate& u) {
    const int64_t r = u.factors[1].size(0);
    u.factors[1].requires_grad_(false);
    u.factors[2].requires_grad_(false);
    u.factors[0] = base_a(layer, p).narrow(1, 0, r);
    u.factors[3] = base_bt(layer, p).narrow(0, 0, r);
  }

  // dW = A[:, :r] M N^T Bt[:r, :], with M = I and N^T = 0 to start (dW = 0).
  LowRankUpdate make_update(size_t layer, QkvPart p, int64_t r, int64_t task) {
    LowRankUpdate u;
    const auto options = torch::TensorOptions().device(run().device);
    u.factors = {base_a(layer, p).narrow(1, 0, r), torch::eye(r, options).requires_grad_(true),
                 torch::zeros({r, r}, options).requires_grad_(true),
                 base_bt(layer, p).narrow(0, 0, r)};
    u.task = task;
    return u;
  }

  // DRS: warm up a full-rank F-LoRA update (and the head) on part of the task, measure the
  // validation loss, undo the warm-up, pick the rank.
  RankSelection select(const Task& task) {
    RankSelection s;
    auto order = task.train;
    {
      auto perm = torch::randperm(static_cast<int64_t>(order.size()), generator(), torch::kLong);
      std::vector<int64_t> shuffled;
      for (int64_t i = 0; i < perm.size(0); ++i) shuffled.push_back(order[perm[i].item<int64_t>()]);
      order = std::move(shuffled);
    }
    order.resize(std::min<size_t>(
        order.size(), static_cast<size_t>(std::max<int64_t>(opt_.warmup_samples(), 2))));
    const size_t val_count = std::max<size_t>(1, order.size() / 5);
    const std::vector<int64_t> val(order.end() - static_cast<std::ptrdiff_t>(val_count),
                                   order.end());
    const std::vector<int64_t> train(order.begin(),
                                     order.end() - static_cast<std::ptrdiff_t>(val_count));

    auto& head = ctx_.model->head;
    const auto head_w = head->weight.detach().clone(), head_b = head->bias.detach().clone();
    const auto prompt = prompt_.defined() ? prompt_.detach().clone() : torch::Tensor();
    FitSpec warmup;
    warmup.name = "drs-warmup";
    warmup.samples = train;
    warmup.steps = train.empty() ? 0 : opt_.warmup_steps();
    warmup.batch_size = std::max<int64_t>(
        1, std::min<int64_t>(run().batch_size, static_cast<int64_t>(train.size())));
    warmup.optimizer = {"sgd", opt_.warmup_lr(), 0.9, 0.0};
    ParamGroup params{{head->weight, head->bias}, std::nullopt, std::nullopt};
    for_each_linear([&](size_t layer, QkvPart p, LoraLinear& linear) {
      linear.updates.push_back(make_update(layer, p, opt_.rank(), task.index));
      params.params.push_back(linear.updates.back().factors[1]);
      params.params.push_back(linear.updates.back().factors[2]);
    });
    warmup.params = {params};
    warmup.loss = [this](const Batch& b) { return current_task_loss(ctx_.model->forward(b.x), b); };
    services().fit(warmup);
    const auto sums = services().sum_over_samples(val, [this](const Batch& b) {
      torch::NoGradGuard no_grad;
      const int64_t known = task_->class_begin, count = task_->class_end - known;
      return std::vector<torch::Tensor>{
          torch::nn::functional::cross_entropy(
              ctx_.model->forward(b.x).narrow(1, known, count), b.y - known,
              torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
              .sum()};
    });
    const double val_loss = sums[0].item<double>() / static_cast<double>(val.size());
    {
      torch::NoGradGuard no_grad;
      head->weight.copy_(head_w);
      head->bias.copy_(head_b);
      if (prompt.defined()) prompt_.copy_(prompt);
    }
    for_each_linear([&](size_t, QkvPart, LoraLinear& linear) { linear.updates.pop_back(); });
    const double classes = static_cast<double>(task.class_end - task.class_begin);
    s.complexity = classes > 1 ? val_loss / std::log(classes) : val_loss;
    s.gumbel.assign(ranks_.size(), 0.0);
    if (opt_.gumbel()) {
      auto u = torch::rand({static_cast<int64_t>(ranks_.size())}, generator(), torch::kDouble);
      for (size_t i = 0; i < ranks_.size(); ++i)
        s.gumbel[i] =
            -std::log(-std::log(std::max(u[static_cast<int64_t>(i)].item<double>(), 1e-300)));
    }
    s.rank = select_rank(s.complexity, ranks_, weights_, biases_, opt_.tau(), s.gumbel);
    return s;
  }

  FmLoraOptions opt_;
  std::vector<QkvPart> parts_;
  std::vector<int64_t> ranks_;
  std::vector<double> weights_, biases_;
  std::vector<torch::Tensor> bases_;  // per adapted matrix: A_shared {out, r}, B_shared^T {r, in}
  torch::Tensor prompt_;
  std::vector<RankSelection> selections_;
};

const bool registered_fm_lora = register_method(
    method_entry<FmLora, FmLoraOptions>(
        "fm-lora",
        "FM-LoRA: F-LoRA in shared frozen bases, dynamic rank selection, meta-prompts (ViT)",
        sd_lora_optimizer(), frozen_vit_requirements())
        .tiny_settings({{"warmup_steps", 2}, {"warmup_samples", 20}}));

}  // namespace
}  // namespace clbench
