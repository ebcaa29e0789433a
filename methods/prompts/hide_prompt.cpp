// HiDe-Prompt (Wang et al., NeurIPS 2023, "Hierarchical Decomposition of Prompt-Based Continual
// Learning"), as its official code runs it (thu-ml/HiDe-Prompt: trainers/tii_trainer.py,
// engines/hide_promtp_wtp_and_tap_engine.py, training_scripts/train_imr_vit.sh):
// - within-task prediction (the main training): one prefix prompt per task on blocks 0-4, separate
//   keys and values of `length` tokens, drawn U(-1, 1) for task 1 and copied from the previous task
//   after; in training blended as (1 - m) P_t + m mean_{j<t} P_j (prompt momentum, the mean
//   detached), and after training updated to that blend. Loss: CE on the task's classes plus
//   reg x a contrastive term: CE(M M^T / 0.8, identity) over M = [earlier classes' centroids;
//   this batch's prompted features]. Adam, the head at a tenth of the prompts' lr.
// - task-identity inference (stage 1): an MLP with a residual, a LayerNorm and a head over all
//   classes on the frozen CLS feature, trained on the task's classes (Adam), then aligned on
//   features drawn from every seen class's frozen-feature statistics (SGD, cosine).
// - task-adaptive prediction (stage 3): the head aligned on features drawn from every seen class's
//   prompted-feature statistics (10 k-means clusters per class, diagonal Gaussians; SGD, cosine).
// At test: the frozen pass predicts the class and so the task; the prompted pass with that task's
// prompt predicts the class: 2 forward passes per image.
// Where clbench differs, and why:
// - The task-identity MLP trains on the frozen features of the un-augmented training images,
//   computed once (the official code recomputes them from augmented images at every step; equal
//   for a benchmark without augmentation), as does the rest of that stage: a fit on stored rows.
// - The official prompts reach attention through a reshape that mixes keys and values across the
//   samples of a batch (JH-LEE-KR/dualprompt-pytorch issue 8); here each sample gets its own
//   task's keys and values.
// - Classifier alignment draws each sample from a cluster picked uniformly (the official code
//   draws every cluster's share, shuffles, and uses the first crct_num batches).
// - The contrastive term couples the samples of a gradient shard, as the official one couples
//   each GPU's batch: the numbers depend on grad_shards, not on the number of ranks.
#include <cmath>
#include <numeric>
#include <unordered_map>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/random.h"
#include "methods/prompts/class_statistics.h"
#include "methods/prompts/prompt_method.h"
#include "methods/seeded_linear.h"

namespace clbench {
namespace {

struct HidePromptOptions {
  TORCH_ARG(int64_t, length) = 20;
  TORCH_ARG(std::vector<int64_t>, layers) = {0, 1, 2, 3, 4};
  TORCH_ARG(double, momentum) = 0.01;
  TORCH_ARG(double, reg) = 0.5;
  TORCH_ARG(double, temperature) = 0.8;
  TORCH_ARG(double, head_lr_factor) = 0.1;
  TORCH_ARG(int64_t, centroids) = 10;
  TORCH_ARG(int64_t, tii_epochs) = 20;
  TORCH_ARG(double, tii_lr) = 0.0005 * 24 / 256;
  TORCH_ARG(int64_t, tii_batch) = 192;
  TORCH_ARG(double, tii_ca_lr) = 0.005 * 24 / 256;
  TORCH_ARG(int64_t, tii_ca_batch) = 192;
  TORCH_ARG(int64_t, ca_epochs) = 30;
  TORCH_ARG(double, ca_lr) = 0.005;
  TORCH_ARG(int64_t, ca_batch) = 960;

 public:
  template <class V>
  void visit(V& v) {
    v("length", length_, "prompt tokens per block, as keys and as values (ImageNet-R 20, CIFAR 5)",
      {1, 100000});
    v("layers", layers_, "prompted blocks (official: 0-4; those the ViT has)",
      integers().distinct(), {0, 1000});
    v("momentum", momentum_, "prompt momentum m (official 0.01)", {0, 1});
    v("reg", reg_, "weight of the contrastive regulariser (ImageNet-R 0.5, CIFAR-100 0.1)",
      {0, 1e6});
    v("temperature", temperature_, "its temperature (official 0.8)", {1e-6, 1e6});
    v("head_lr_factor", head_lr_factor_, "the head's lr over the prompts' (official 0.1)",
      {0, 1e6});
    v("centroids", centroids_, "k-means clusters kept per class (official 10)", {1, 100000});
    v("tii_epochs", tii_epochs_, "epochs of the task-identity MLP on each task (official 20)",
      {0, 1e6});
    v("tii_lr", tii_lr_, "its Adam lr (official 0.0005 x 24/256)", {0, 1e6});
    v("tii_batch", tii_batch_, "its global batch (official 24 on each of 8 GPUs)", {1, 1e9});
    v("tii_ca_lr", tii_ca_lr_, "its alignment's SGD lr (official 0.005 x 24/256)", {0, 1e6});
    v("tii_ca_batch", tii_ca_batch_, "its alignment's global batch (official 24 x 8)", {1, 1e9});
    v("ca_epochs", ca_epochs_,
      "epochs of each classifier alignment, of one step per class of the earlier tasks (official "
      "30)",
      {0, 1e6});
    v("ca_lr", ca_lr_, "the head's alignment SGD lr (official 0.005)", {0, 1e6});
    v("ca_batch", ca_batch_, "its global batch (official 120 on each of 8 GPUs)", {1, 1e9});
  }
};

// Stage 1's classifier: MLP (D -> 2D -> D, GELU) with a residual, LayerNorm, head over all classes
// (HiDe-Prompt's MlpMapping and head on the frozen pre-logits).
struct TaskIdentityImpl : torch::nn::Module {
  TaskIdentityImpl(int64_t dim, int64_t classes, at::Generator& gen) {
    fc1 = register_module("fc1", seeded_linear(dim, 2 * dim, gen));
    fc2 = register_module("fc2", seeded_linear(2 * dim, dim, gen));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
    head = register_module("head", seeded_linear(dim, classes, gen));
  }
  torch::Tensor forward(const torch::Tensor& f) {
    return head->forward(norm->forward(f + fc2->forward(torch::gelu(fc1->forward(f)))));
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, head{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(TaskIdentity);

class HidePrompt : public PromptMethod {
 public:
  explicit HidePrompt(HidePromptOptions o) : opt_(std::move(o)) {}

  void init_prompts() override {
    layers_ = blocks_of(opt_.layers());
    tii_ = TaskIdentity(dim(), ctx_.stream->num_classes(), generator());
    tii_->to(run().device);
  }

  void on_begin_task(const Task& task) override {
    for (auto& p : prompts_) p.requires_grad_(false);
    if (static_cast<int64_t>(prompts_.size()) <= task.index) {  // not on a resume inside the task
      const auto shape =
          std::vector<int64_t>{static_cast<int64_t>(layers_.size()), 2, opt_.length(), dim()};
      prompts_.push_back(prompts_.empty() ? uniform_prompt(shape, -1.0, 1.0, generator(), options())
                                          : prompts_.back().detach().clone().requires_grad_(true));
    }
    prompts_.back().requires_grad_(true);
  }

  Prompts select(const Batch& batch, bool training) override {
    if (prompts_.empty()) return {};  // the untrained model
    if (training) return prefixes(blended(task_->index));
    // The frozen pass's class prediction among the classes seen so far gives the task.
    const auto class_logits = tii_->forward(query(batch)).narrow(1, 0, seen_classes_);
    const auto task = task_of_class_.index_select(0, class_logits.argmax(1));
    return prefixes(torch::stack(prompts_).index_select(0, task));
  }

  // HiDe's contrastive regulariser on the prompted features of this shard.
  torch::Tensor feature_loss(const torch::Tensor& features, const Batch&) override {
    if (opt_.reg() == 0.0 || features.size(0) == 0) return {};
    auto m = features;
    if (task_->class_begin > 0) {
      std::vector<torch::Tensor> earlier;
      for (int64_t c = 0; c < task_->class_begin; ++c) earlier.push_back(prompted_[c].means);
      m = torch::cat({torch::cat(earlier).to(features.device()), features});
    }
    const auto sim = torch::matmul(m, m.t()) / opt_.temperature();
    const auto target =
        torch::arange(m.size(0), torch::TensorOptions().device(m.device()).dtype(torch::kLong));
    return opt_.reg() * torch::nn::functional::cross_entropy(sim, target);
  }

  std::vector<ParamGroup> parameter_groups() override {
    ParamGroup head{{ctx_.model->head->weight, ctx_.model->head->bias}, std::nullopt, std::nullopt};
    head.lr_scale = opt_.head_lr_factor();  // official --larger_prompt_lr: the head at lr / 10
    return {ParamGroup{prompt_parameters(), std::nullopt, std::nullopt}, head};
  }

  void end_task(const Task& task) override {
    const int64_t t = task.index;
    if (t > 0) {  // the prompt becomes its momentum blend
      torch::NoGradGuard no_grad;
      prompts_[static_cast<size_t>(t)].copy_(blended(t));
    }
    // Stage 3's statistics: the prompted features of the task's classes, with its own prompt.
    const auto own = prefixes(prompts_[static_cast<size_t>(t)].detach());
    add_statistics(task, prompted_, [&](const Batch& b) { return features(b, own); });
    // Stage 1: the task-identity classifier on the task's frozen features, then its alignment.
    const auto frozen = add_statistics(task, frozen_, [&](const Batch& b) { return query(b); });
    fit_task_identity(frozen);
    if (t > 0) {
      align("tii-alignment", frozen_, opt_.tii_ca_batch(), opt_.tii_ca_lr(), tii_->parameters(),
            [&](const torch::Tensor& x) { return tii_->forward(x); });
      align("classifier-alignment", prompted_, opt_.ca_batch(), opt_.ca_lr(),
            ctx_.model->head->parameters(),
            [&](const torch::Tensor& x) { return ctx_.model->head->forward(x); });
    }
  }

  std::vector<torch::Tensor> prompt_parameters() override { return {prompts_.back()}; }
  // The prompts, the task-identity classifier and the class statistics (kept for later alignment).
  std::vector<torch::Tensor> stored_prompts() const override {
    auto out = prompts_;
    for (const auto& p : tii_->parameters()) out.push_back(p);
    for (const auto* kept : {&frozen_, &prompted_}) {
      for (const auto& s : *kept) out.insert(out.end(), {s.means, s.variances});
    }
    return out;
  }

  void state(StateVisitor& v) override {
    v("hide.generator", generator());
    v("hide.prompts", prompts_);
    v("hide.tii", *tii_);
    for (auto [name, kept] : {std::pair{"hide.frozen", &frozen_}, {"hide.prompted", &prompted_}}) {
      v.each(name, *kept, [](StateVisitor& v, ClassStatistics& s) {
        v("means", s.means);
        v("variances", s.variances);
      });
    }
  }

 private:
  // Task t's prompt as training uses it: (1 - m) P_t + m mean_{j<t} P_j (the mean detached).
  torch::Tensor blended(int64_t t) const {
    const auto& p = prompts_[static_cast<size_t>(t)];
    if (t == 0 || opt_.momentum() == 0.0) return p;
    const auto earlier =
        torch::stack(std::vector<torch::Tensor>(prompts_.begin(), prompts_.begin() + t))
            .detach()
            .mean(0);
    return (1.0 - opt_.momentum()) * p + opt_.momentum() * earlier;
  }

  // A prompt {layers, 2, L, D} (shared) or {B, layers, 2, L, D} (per sample) as the blocks'
  // prefixes.
  Prompts prefixes(const torch::Tensor& prompt) const {
    Prompts out;
    out.prefixes.resize(depth());
    const bool batched = prompt.dim() == 5;
    for (size_t i = 0; i < layers_.size(); ++i) {
      const auto p =
          batched ? prompt.select(1, static_cast<int64_t>(i)) : prompt[static_cast<int64_t>(i)];
      out.prefixes[static_cast<size_t>(layers_[i])] = {p.select(-3, 0), p.select(-3, 1)};
    }
    return out;
  }

  // The features `of` each training sample of `task` {n, D} (un-augmented, on every rank alike),
  // and their classes' multi-centroid statistics appended to `kept`; returns the features and
  // labels.
  std::pair<torch::Tensor, torch::Tensor> add_statistics(
      const Task& task, std::vector<ClassStatistics>& kept,
      const std::function<torch::Tensor(const Batch&)>& of) {
    const auto features = services().sample_rows(task.train, dim(), of).cpu();
    std::vector<int64_t> classes;
    for (int64_t i : task.train) classes.push_back(internal_class(i));
    const auto labels = torch::tensor(classes, torch::kLong);
    if (static_cast<int64_t>(kept.size()) ==
        task.class_begin) {  // not already (a resumed end_task)
      for (int64_t c = task.class_begin; c < task.class_end; ++c) {
        const auto members = (labels == c).nonzero().squeeze(1);
        if (members.numel() == 0) {
          throw Error("hide-prompt: class " + std::to_string(c) + " has no training sample");
        }
        kept.push_back(
            multi_centroid(features.index_select(0, members), opt_.centroids(), generator()));
      }
    }
    return {features, labels};
  }

  // Stage 1: the task-identity classifier on the task's frozen features (rows of `data`), CE on
  // the task's classes, Adam, tii_epochs epochs, each over a fresh permutation.
  void fit_task_identity(const std::pair<torch::Tensor, torch::Tensor>& data) {
    const auto n = data.first.size(0);
    const int64_t steps_per_epoch = (n + opt_.tii_batch() - 1) / opt_.tii_batch();
    FitSpec fit;
    fit.name = "task-identity";
    for (int64_t e = 0; e < opt_.tii_epochs(); ++e) {
      const auto order = torch::randperm(n, generator(), torch::kLong);
      const int64_t* ids = order.data_ptr<int64_t>();
      for (int64_t i = 0; i < steps_per_epoch * opt_.tii_batch(); ++i)
        fit.samples.push_back(ids[i % n]);
    }
    fit.steps = opt_.tii_epochs() * steps_per_epoch;
    fit.batch_size = opt_.tii_batch();
    fit.images = false;
    fit.params = {ParamGroup{tii_->parameters(), std::nullopt, std::nullopt}};
    fit.optimizer = {"adam", opt_.tii_lr(), 0.0, 0.0};
    const auto features = data.first.to(run().device), labels = data.second.to(run().device);
    fit.loss = [&, features, labels](const Batch& b) {
      const auto rows = torch::tensor(b.indices, torch::kLong).to(run().device);
      Batch stored = b;  // the rows' labels, for the loss on the task's classes
      stored.y = labels.index_select(0, rows);
      return current_task_loss(tii_->forward(features.index_select(0, rows)), stored);
    };
    services().fit(fit);
  }

  // Classifier alignment: `params` of `classify` trained on features drawn from the statistics
  // `kept` of every seen class, CE over the seen classes, SGD momentum 0.9 with a cosine over
  // ca_epochs epochs of one step per class of the earlier tasks (crct_num).
  void align(const std::string& name, const std::vector<ClassStatistics>& kept, int64_t batch,
             double lr, std::vector<torch::Tensor> params,
             const std::function<torch::Tensor(const torch::Tensor&)>& classify) {
    const int64_t per_epoch = task_->class_begin, epochs = opt_.ca_epochs();
    if (epochs == 0 || per_epoch == 0) return;
    GaussianDraws draws;
    for (int64_t c = 0; c < seen_classes_; ++c) draws.add(c, kept[static_cast<size_t>(c)]);
    if (draws.clusters.empty()) return;
    draws.seed = mix_seed({static_cast<uint64_t>(run().seed), static_cast<uint64_t>(task_->index),
                           std::hash<std::string>{}(name)});
    FitSpec fit;
    fit.name = name;
    fit.steps = epochs * per_epoch;
    fit.batch_size = batch;
    fit.samples.resize(static_cast<size_t>(fit.steps * batch));
    std::iota(fit.samples.begin(), fit.samples.end(), int64_t{0});
    fit.images = false;
    fit.params = {ParamGroup{std::move(params), std::nullopt, std::nullopt}};
    fit.optimizer = {"sgd", lr, 0.9, 0.0};
    fit.lr_factor = [per_epoch,
                     epochs](int64_t k) {  // CosineAnnealingLR(T_max = epochs), per epoch
      return (1.0 +
              std::cos(M_PI * static_cast<double>(k / per_epoch) / static_cast<double>(epochs))) /
             2.0;
    };
    fit.loss = [&, draws](const Batch& b) {
      const auto [x, y] = draws.draw(b.indices, run().device);
      return b.mean(torch::nn::functional::cross_entropy(
          classify(x).narrow(1, 0, seen_classes_), y,
          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone)));
    };
    services().fit(fit);
  }

  HidePromptOptions opt_;
  std::vector<int64_t> layers_;
  TaskIdentity tii_{nullptr};
  std::vector<torch::Tensor> prompts_;              // per task: {layers, 2 (keys, values), L, D}
  std::vector<ClassStatistics> frozen_, prompted_;  // per class seen
};

const bool registered_hide_prompt = register_method(
    method_entry<HidePrompt, HidePromptOptions>(
        "hide-prompt",
        "HiDe-Prompt: per-task prompts picked by a task-identity classifier, aligned heads (ViT)",
        {{"optimizer", "adam"}, {"lr", 0.03 * 24 / 256}, {"lr_schedule", "cosine"}},
        [] {
          auto r = frozen_vit_requirements();
          r.shard_coupled_loss = true;
          return r;
        }())
        .tiny_settings({{"centroids", 2},
                        {"tii_epochs", 1},
                        {"ca_epochs", 1},
                        {"tii_batch", 8},
                        {"tii_ca_batch", 16},
                        {"ca_batch", 16}})
        // training_scripts/train_imr_vit.sh and train_cifar100_vit.sh: 24 per GPU x 8, lr 0.03 x
        // 24/256 (the head at a tenth); ImageNet-R 150 epochs with a cosine, length 20, reg 0.5;
        // CIFAR-100 50 epochs, the lr x 0.1 at epoch 30, length 5, reg 0.1.
        .paper_settings({{"imagenet-r-10",
                          {{"epochs", 150},
                           {"batch_size", 192},
                           {"optimizer", "adam"},
                           {"lr", 0.03 * 24 / 256},
                           {"lr_schedule", "cosine"},
                           {"hide-prompt.length", 20},
                           {"hide-prompt.reg", 0.5}}},
                         {"cifar100-10",
                          {{"epochs", 50},
                           {"batch_size", 192},
                           {"optimizer", "adam"},
                           {"lr", 0.03 * 24 / 256},
                           {"lr_schedule", "multistep"},
                           {"lr_milestones", "30"},
                           {"lr_gamma", 0.1},
                           {"hide-prompt.length", 5},
                           {"hide-prompt.reg", 0.1}}}}));

}  // namespace
}  // namespace clbench
