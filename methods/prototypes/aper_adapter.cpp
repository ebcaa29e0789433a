// APER with adapters (first named ADAM; Zhou, Cai, Ye, Zhan, Liu, "Revisiting Class-Incremental
// Learning with Pre-Trained Models: Generalizability and Adaptivity are All You Need", IJCV 2024,
// Sec. 4.2 "aggregate the pre-trained and the adapted model"), as LAMDA-CL/LAMDA-PILOT
// models/aper_adapter.py runs it (utils/inc_net.py SimpleVitNet and
// MultiBranchCosineIncrementalNet, backbone/vit_adapter.py, exps/aper_aperpter*.json):
// - task 1 only: an AdaptFormer adapter in every block (bottleneck 64, scale 0.1, dropout 0.1)
//   and a cosine head over task 1's classes (learnable sigma) are trained with CE on task 1's
//   classes; later tasks train nothing.
// - after task 1 the features are [frozen PTM CLS feature, adapted CLS feature] (2D), classified
//   by a fresh cosine classifier (sigma 1) whose rows are the class-mean prototypes of those
//   features on the un-augmented training images, set at the end of every task (task 1 included).
// Where clbench differs, and why:
// - The adapters, the task-1 head and the classifier are drawn from the run's generator (the
//   official code draws from torch's global RNG), so that every rank draws them alike.
// - Adapter dropout draws a mask per sample from the sample's seed (SampleDropout), so 2 ranks
//   compute the bits of 1.
#include <torch/torch.h>

#include "methods/frozen_vit.h"
#include "methods/parallel_adapter.h"
#include "methods/prototypes/cosine_classifier.h"

namespace clbench {
namespace {

struct AperAdapterOptions {
  AdapterKeys adapter;

  template <class V>
  void visit(V& v) {
    adapter.visit(v);
  }
};

class AperAdapter : public Method {
 public:
  explicit AperAdapter(AperAdapterOptions o) : opt_(std::move(o)) {}

  // Only the first task trains (the official _train tunes when _cur_task == 0, else passes).
  std::vector<int64_t> train_indices(const Task& task) const override {
    return task.index == 0 ? task.train : std::vector<int64_t>{};
  }

  std::vector<torch::Tensor> trainable_parameters() override {
    if (task_ == nullptr || task_->index > 0) return {};
    auto out = adapters_->parameters();
    for (const auto& p : head_->parameters()) out.push_back(p);
    return out;
  }

  std::vector<ParamGroup> parameter_groups() override {
    auto params = trainable_parameters();
    if (params.empty()) return {};
    return {ParamGroup{std::move(params), std::nullopt, std::nullopt}};
  }

  // CE over task 1's classes of the cosine head on the adapted feature.
  torch::Tensor loss(const Batch& batch) override {
    const auto logits =
        head_->forward(adapted(batch.x, SampleDropout::of(batch, opt_.adapter.dropout)));
    return batch.mean(torch::nn::functional::cross_entropy(
        logits, batch.y - task_->class_begin,
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone)));
  }

  // replace_fc: the rows of the task's classes become the class means of the dual-branch feature.
  void end_task(const Task& task) override {
    const auto means = task_class_means(services(), task, 2 * vit_->feature_dim(),
                                        [&](const Batch& b) { return features(b.x); });
    torch::NoGradGuard no_grad;
    classifier_->weight.narrow(0, task.class_begin, means.size(0)).copy_(means);
  }

  torch::Tensor logits(const Batch& batch) override {
    return classifier_->forward(features(batch.x));
  }

  int64_t forward_passes() const override { return 2; }  // the frozen and the adapted pass

  // The adapters and the prototypes (2D each) of the classes seen so far; task 1's training head
  // is discarded once the prototype classifier replaces it (construct_dual_branch_network).
  int64_t stored_parameters() const override {
    int64_t adapters = 0;
    for (const auto& p : adapters_->parameters()) adapters += p.numel();
    return adapters + seen_classes_ * 2 * vit_->feature_dim();
  }

  void state(StateVisitor& v) override {
    v.parameters("aper.adapters", *adapters_);
    v.parameters("aper.head", *head_);
    v.parameters("aper.classifier", *classifier_);
  }

 protected:
  void on_attach() override {
    vit_ = frozen_vit(ctx_.model, "adapts");
    hooks_ = std::make_shared<MlpBranchHooks>();
    vit_->hooks = hooks_;
    const int64_t dim = vit_->feature_dim();
    auto gen = make_generator(run().seed, 0xA9E2);
    adapters_ = AdapterSet(static_cast<int64_t>(vit_->depth()), opt_.adapter.options(dim), gen);
    const auto& first = ctx_.stream->tasks.front();
    head_ = CosineClassifier(first.class_end - first.class_begin, dim, gen);
    classifier_ = CosineClassifier(ctx_.stream->num_classes(), 2 * dim, gen);
    freeze(*classifier_);
    for (auto* m : {static_cast<torch::nn::Module*>(adapters_.get()),
                    static_cast<torch::nn::Module*>(head_.get()),
                    static_cast<torch::nn::Module*>(classifier_.get())}) {
      m->to(run().device);
    }
  }

  void on_begin_task(const Task& task) override {
    const bool trains = task.index == 0;
    for (auto& p : adapters_->parameters()) p.requires_grad_(trains);
    for (auto& p : head_->parameters()) p.requires_grad_(trains);
  }

 private:
  // The adapted ViT's CLS feature {B, D}.
  torch::Tensor adapted(const torch::Tensor& x, SampleDropout dropout = {}) {
    BranchScope scope(*hooks_, adapter_set_branch(adapters_, std::move(dropout)));
    return vit_->forward(x);
  }

  // [frozen PTM feature, adapted feature] {B, 2D} (MultiBranchCosineIncrementalNet's order).
  torch::Tensor features(const torch::Tensor& x) {
    const auto frozen = vit_->query(x);
    const auto tuned = adapted(x);
    return torch::cat({frozen.to(tuned.scalar_type()), tuned}, 1);
  }

  AperAdapterOptions opt_;
  std::shared_ptr<VitImpl> vit_;
  std::shared_ptr<MlpBranchHooks> hooks_;
  AdapterSet adapters_{nullptr};
  CosineClassifier head_{nullptr};        // task 1's training head over its classes {K1, D}
  CosineClassifier classifier_{nullptr};  // prototypes {C, 2D}, sigma 1
};

// The official configs: LAMDA-PILOT exps/aper_aperpter.json (CIFAR-100 B0 Inc10 = cifar100-10)
// and exps/aper_aperpter_inr.json (ImageNet-R B0 Inc20 = imagenet-r-10); zhoudw-zdw/RevisitingCIL
// exps/aper_adapter/cub_10_10_vit-b_adapter.json and imageneta_10_10_vit-b_adapter.json (their
// split is B0 Inc10, 20 tasks: give increment=10 for it; the presets set training only).
const bool registered_aper_adapter = register_method(
    method_entry<AperAdapter, AperAdapterOptions>(
        "aper-adapter",
        "APER (ADAM) with adapters: adapters tuned on task 1, prototypes of frozen + adapted "
        "features in a cosine classifier (ViT)",
        {{"optimizer", "sgd"},
         {"momentum", 0.9},
         {"lr", 0.01},
         {"batch_size", 48},
         {"weight_decay", 5e-4},
         {"lr_schedule", "cosine"},
         {"epochs", 20}},  // tuned_epoch: task 1's epochs (later tasks train nothing)
        frozen_vit_requirements())
        .paper_settings({{"cifar100-10", pilot_sgd_setting(20, 0.01, 48, 5e-4)},
                         {"imagenet-r-10", pilot_sgd_setting(10, 0.05, 16, 5e-3)},
                         {"cub200-10", pilot_sgd_setting(20, 0.01, 48, 5e-4)},
                         {"imagenet-a-10", pilot_sgd_setting(20, 0.01, 48, 5e-4)}}));

}  // namespace
}  // namespace clbench
