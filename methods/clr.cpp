// CLR: Channel-wise Lightweight Reprogramming (Ge et al., ICCV 2023, Sec. 3), as the official code
// (gyhandy/Channel-wise-Lightweight-Reprogramming, main.py and network/) runs it. A frozen
// pretrained ResNet; per task, a depthwise convolution initialised to the identity (Dirac) right
// after every reprogrammed convolution and before its BatchNorm (conv -> CLR -> norm -> relu,
// ReGhos_Block), the task's own BatchNorm parameters and statistics (trained, in train mode while
// training: train_BN) and its own linear head. At test time the task oracle selects the task's
// reprogramming, norms and head, so earlier tasks never change: zero forgetting by construction.
#include <cmath>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/models/resnet.h"
#include "methods/method.h"

namespace clbench {
namespace {

struct ClrOptions {
  TORCH_ARG(std::string, variant) = "reduced_v1";
  TORCH_ARG(double, lambda) = 1e-5;
  TORCH_ARG(bool, select_best_epoch) = false;

 public:
  template <class V>
  void visit(V& v) {
    v("variant", variant_,
      "reduced_v1: every non-1x1 convolution (the paper's CLR, the code's default); full: also "
      "the 1x1 downsample convolutions, with 3x3 kernels (CLR-Full); reduced_v2: 1x1 kernels there",
      {"reduced_v1", "full", "reduced_v2"});
    v("lambda", lambda_,
      "weight of the L2-norm penalty sum ||w||_2 (not squared) over head, norm and CLR tensors",
      {0, 1e6});
    v("select_best_epoch", select_best_epoch_,
      "keep the epoch with the best accuracy on the task's TEST data, with the official early "
      "stop (more than 21 epochs without improvement), as main.py reports it; selects on test "
      "data, so off by default (the last epoch)");
  }
};

// Kernel side of the reprogramming at a site (0: none): main.py's Ghost_reduced_v1, Ghost,
// Ghost_reduced_v2 through add_ghostnet.
int64_t reprogram_kernel(const std::string& variant, const torch::nn::Conv2dImpl& conv) {
  const bool pointwise =
      conv.options.kernel_size()->at(0) == 1 && conv.options.kernel_size()->at(1) == 1;
  if (!pointwise) return 3;
  if (variant == "full") return 3;
  if (variant == "reduced_v2") return 1;
  return 0;
}

std::string module_name(const std::string& torchvision_name) {
  std::string s = torchvision_name;
  for (auto& c : s)
    if (c == '.') c = '_';
  return s;
}

// One task's program: its kernels (at the reprogrammed sites), a norm at every site, its head.
struct ClrProgramImpl : torch::nn::Module {
  ClrProgramImpl(const ResNetImpl& resnet, const std::string& variant, int64_t classes,
                 at::Generator& generator) {
    torch::NoGradGuard no_grad;
    for (const auto& site : resnet.sites()) {
      const int64_t c = site.conv->options.out_channels();
      const int64_t k = reprogram_kernel(variant, *site.conv);
      torch::nn::Conv2d kernel{nullptr};
      if (k > 0) {
        kernel = register_module(
            "clr_" + module_name(site.conv_name),
            torch::nn::Conv2d(
                torch::nn::Conv2dOptions(c, c, k).padding(k / 2).groups(c).bias(false)));
        // nn.init.dirac_(groups=C): each channel's own kernel is the identity, so the network
        // starts as the pretrained one.
        kernel->weight.zero_().select(3, k / 2).select(2, k / 2).fill_(1.0);
      }
      kernels.push_back(kernel);
      auto norm = register_module("norm_" + module_name(site.norm_name),
                                  BatchNorm2d(c, site.norm->eps, site.norm->momentum));
      // Each task starts from the pretrained norm (a fresh torchvision model per task).
      norm->weight.copy_(site.norm->weight);
      norm->bias.copy_(site.norm->bias);
      norm->running_mean.copy_(site.norm->running_mean);
      norm->running_var.copy_(site.norm->running_var);
      norms.push_back(norm);
    }
    // nn.Linear's default initialisation: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
    head = register_module("head", torch::nn::Linear(resnet.feature_dim(), classes));
    const double bound = 1.0 / std::sqrt(static_cast<double>(resnet.feature_dim()));
    head->weight.copy_(torch::empty(head->weight.sizes()).uniform_(-bound, bound, generator));
    head->bias.copy_(torch::empty(head->bias.sizes()).uniform_(-bound, bound, generator));
  }

  std::vector<torch::nn::Conv2d> kernels;  // null where a site is not reprogrammed
  std::vector<BatchNorm2d> norms;
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(ClrProgram);

// Runs every site of the frozen ResNet through the selected task's program.
struct ClrHook : ConvNormHook {
  torch::Tensor forward(size_t site, const torch::Tensor& conv_out,
                        BatchNorm2dImpl& backbone_norm) override {
    auto& p = *program;
    auto& norm = *p.norms[site];
    norm.train(backbone_norm.is_training());  // the model's mode (train_BN while training)
    auto& kernel = p.kernels[site];
    return norm.forward(kernel ? kernel->forward(conv_out) : conv_out);
  }
  ClrProgramImpl* program = nullptr;
};

class Clr : public Method {
 public:
  explicit Clr(ClrOptions o) : opt_(std::move(o)) {}

  void on_attach() override {
    resnet_ = std::dynamic_pointer_cast<ResNetImpl>(ctx_.model->backbone);
    if (!resnet_) throw Error("clr needs a ResNet backbone");
    for (auto& p : ctx_.model->parameters()) p.requires_grad_(false);  // frozen backbone
    hook_ = std::make_shared<ClrHook>();
    resnet_->set_hook(hook_);
    // Every task's program exists from the start (the evaluation before training sees them all),
    // drawn in task order from a generator every rank seeds alike.
    auto generator = make_generator(run().seed, 0xC1);
    for (const auto& task : ctx_.stream->tasks) {
      ClrProgram p(*resnet_, opt_.variant(), task.class_end - task.class_begin, generator);
      p->to(run().device);
      programs_.push_back(p);
    }
    select(0);
  }

  void on_begin_task(const Task& task) override { select(task.index); }

  torch::Tensor loss(const Batch& batch) override {
    select(task_->index);
    auto total = classification_loss(task_logits(batch.x, *task_), batch);
    // utils.train(reg="l2"): lamda * sqrt(sum w^2) per tensor; an all-zero tensor is skipped
    // there, and vector_norm's gradient at zero is zero, so it adds nothing here either.
    for (const auto& w : trainable_parameters())
      total = total +
              opt_.lambda() * torch::linalg_vector_norm(w, 2, c10::nullopt, false, c10::nullopt);
    return total;
  }

  torch::Tensor logits(const Batch& batch) override {
    const int t = batch.task.value_or(task_->index);
    select(t);
    return task_logits(batch.x, ctx_.stream->tasks.at(static_cast<size_t>(t)));
  }

  void end_epoch(int /*epoch*/) override {
    if (!opt_.select_best_epoch()) return;
    std::vector<torch::Tensor> snapshot;
    for (const auto& t : program_tensors(task_->index)) snapshot.push_back(t.detach().clone());
    snapshots_.push_back(std::move(snapshot));
  }

  // main.py: the first epoch of the best test accuracy, epochs after an early stop never seen.
  void end_task(const Task& task) override {
    if (snapshots_.empty()) return;
    double best = 0;
    size_t chosen = 0;
    for (size_t e = 0; e < snapshots_.size(); ++e) {
      load_snapshot(task.index, snapshots_[e]);
      const double acc = test_accuracy(task);
      if (acc > best) {
        best = acc;
        chosen = e;
      } else if (e - chosen > 21) {
        break;
      }
    }
    load_snapshot(task.index, snapshots_[chosen]);
    snapshots_.clear();
  }

  std::vector<torch::Tensor> trainable_parameters() override {
    return programs_.at(static_cast<size_t>(task_->index))->parameters();
  }

  // The kernels, norm parameters and statistics and head of every task so far; the backbone is
  // shared (num_batches_tracked is not counted: nothing reads it with a fixed momentum).
  int64_t stored_parameters() const override {
    int64_t n = 0;
    const size_t tasks = task_ != nullptr ? static_cast<size_t>(task_->index) + 1 : 0;
    for (size_t t = 0; t < tasks; ++t) {
      const auto& p = programs_[t];
      n += count_parameters(p->parameters());
      for (const auto& norm : p->norms) n += norm->running_mean.numel() + norm->running_var.numel();
    }
    return n;
  }

  void state(StateVisitor& v) override {
    for (size_t t = 0; t < programs_.size(); ++t) v("program." + std::to_string(t), *programs_[t]);
    v.each("snapshots", snapshots_,
           [](StateVisitor& v, std::vector<torch::Tensor>& s) { v("tensors", s); });
  }

 private:
  std::vector<torch::Tensor> program_tensors(int t) const {
    auto tensors = programs_.at(static_cast<size_t>(t))->parameters();
    for (const auto& b : programs_[static_cast<size_t>(t)]->buffers()) tensors.push_back(b);
    return tensors;
  }

  void load_snapshot(int t, const std::vector<torch::Tensor>& snapshot) {
    torch::NoGradGuard no_grad;
    const auto tensors = program_tensors(t);
    for (size_t i = 0; i < tensors.size(); ++i) tensors[i].copy_(snapshot.at(i));
  }

  // Task-IL accuracy of the task's program on its test samples (percent).
  double test_accuracy(const Task& task) {
    select(task.index);
    const auto correct = services().sum_over_samples(
        task.test,
        [&](const Batch& b) {
          const auto within =
              task_logits(b.x, task).narrow(1, task.class_begin, task.class_end - task.class_begin);
          return std::vector<torch::Tensor>{
              (within.argmax(1) + task.class_begin).eq(b.y).sum().to(torch::kDouble)};
        },
        0, SampleSet::kTest);
    return 100.0 * correct[0].item<double>() / static_cast<double>(task.test.size());
  }

  void select(int t) { hook_->program = programs_.at(static_cast<size_t>(t)).get(); }

  // Logits over all classes: the task's head in its own columns, zeros elsewhere (the task-IL
  // scenario masks every other column).
  torch::Tensor task_logits(const torch::Tensor& x, const Task& task) {
    const auto own =
        programs_.at(static_cast<size_t>(task.index))->head->forward(resnet_->forward(x));
    const int64_t b = own.size(0);
    return torch::cat(
        {torch::zeros({b, task.class_begin}, own.options()), own,
         torch::zeros({b, ctx_.stream->num_classes() - task.class_end}, own.options())},
        1);
  }

  ClrOptions opt_;
  std::shared_ptr<ResNetImpl> resnet_;
  std::shared_ptr<ClrHook> hook_;
  std::vector<ClrProgram> programs_;                   // one per task of the stream
  std::vector<std::vector<torch::Tensor>> snapshots_;  // select_best_epoch: this task's epochs
};

const bool registered_clr = register_method(method_entry<Clr, ClrOptions>(
    "clr",
    "CLR (Ge et al. 2023): per-task depthwise reprogramming, norms and head on a frozen ResNet",
    // main.py: Adam lr 1e-3, StepLR(20, 0.1), 60 epochs, batch 32.
    {{"scenario", "task-il"},
     {"optimizer", "adam"},
     {"lr", 1e-3},
     {"weight_decay", 0.0},
     {"epochs", 60},
     {"batch_size", 32},
     {"lr_schedule", "multistep"},
     {"lr_milestones", "20,40"},
     {"lr_gamma", 0.1}},
    [] {
      MethodRequirements r;
      r.backbone_kinds = {"resnet"};
      r.scenarios = {"task-il"};
      r.task_id_at_test = true;
      r.pretrained_backbone = true;  // reprograms a frozen pretrained ResNet
      return r;
    }()));

}  // namespace
}  // namespace clbench
