// DyTox (Douillard, Ramé, Couairon, Cord, CVPR 2022, "DyTox: Transformers for Continual Learning
// with DYnamic TOken eXpansion"), as its official code runs it (arthurdouillard/dytox:
// continual/dytox.py, continual/convit.py, continual/engine.py, continual/rehearsal.py, main.py,
// options/model/cifar_dytox.yaml):
// - the encoder's self-attention blocks (SABs) turn the image into patch tokens; one task-attention
//   block (TAB, Sec. 3: class attention, q from the task token, k and v over
//   [task token; patch tokens], then the block's MLP) runs once per task token, and each task
//   embedding e_i feeds its own head (ind_clf 1-1: LayerNorm + Linear -> task i's classes); the
//   logits are the heads' outputs concatenated in class order (Sec. 3).
// - each task adds a task token (trunc_normal std .02) and a head; the old tokens and heads are
//   frozen while the task trains (freeze_task: old_task_tokens, old_heads). The SABs, the TAB, the
//   new token and the new head train.
// - loss (continual/engine.py forward, Sec. 3): binary cross-entropy of the logits against
//   one-hot targets (bce_loss, the mean over samples and classes); from task 2 with auto_kd,
//   lambda = #old / #seen classes and L = (1 - lambda) L_bce + lambda KL(old || new on the old
//   classes) at tau = 1 (F.kl_div(reduction='mean'): the mean over samples and old classes), plus
//   head_div x the BCE of a divergence head on the newest embedding (#new + 1 outputs, every old
//   class mapped to 0; training only: head_div_mode tr). The old model is a frozen copy of the
//   whole model at the end of the previous task.
// - rehearsal (icarl_all): after each task, iCaRL herding on the concatenated task embeddings
//   (L2-normalised) picks each new class's exemplars within a class-balanced budget of `memory`
//   samples in all (old classes keep their first ones); the next task trains on its data plus the
//   memory (the memory is concatenated into the task's dataset).
// - finetuning (main.py, finetuning balanced): after the memory update of each task t > 1,
//   finetune_epochs epochs on the memory alone (class-balanced, the new classes included) with the
//   SABs frozen (freeze_ft: sab), AdamW at the constant lr finetuning_lr x batch / 512, BCE only
//   (no teacher, no divergence head). The official freeze() first unfreezes every parameter, so
//   the TAB, every task token and every head train there, the old ones included.
// Where clbench differs, and why:
// - The encoder is the run's ViT (pretrained or not) instead of a ConViT trained from scratch (5
//   GPSA blocks + 1 TAB, 384-d, patch 4 on 32 px): all its blocks are the SABs (trained, as DyTox
//   trains its encoder; dytox.freeze_encoder freezes them), run with the ViT's class token, whose
//   output is dropped: the TAB attends to the patch tokens, without the ViT's final norm (the TAB
//   has its own). The TAB follows the ViT's heads and MLP ratio; its norms are nn.LayerNorm's
//   (eps 1e-5) and its q, k, v have no bias, as the official one. No stochastic depth (ConViT's
//   drop_path 0.1) and no repeated augmentation.
// - The memory is one global memory of `memory` samples chosen on un-augmented images in eval mode
//   (the erratum's "global memory"; the official runs chose per GPU on augmented images, up to
//   `memory` per GPU: erratum_distributed.md). Per-class quotas are clbench's ClassBalancedMemory
//   (the first memory % classes classes keep one more; the official floor leaves them unused).
// - Finetuning runs through the fit service over ceil(epochs x n / batch) steps of consecutive
//   per-epoch permutations of the memory (the official loader restarts each epoch).
// - The main schedule maps onto the common keys: AdamW, lr 5e-4 x batch / 512 (the official linear
//   scaling with the world size folded into the global batch), wd 1e-6, a cosine with 5 warm-up
//   epochs. timm's cosine ends at min_lr 1e-5 plus 10 cool-down epochs and warms up from 1e-6;
//   clbench's ends at 0 and warms up from lr / warmup: not expressible.
// - The trainer evaluates once per task, after the finetuning.
// The TAB runs once per task token (t passes of one block at task t), but the encoder once per
// image: forward_passes() is 1.
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <unordered_map>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/models/vit.h"
#include "methods/method.h"
#include "methods/replay/class_balanced.h"
#include "methods/replay/footprint.h"
#include "methods/replay/herding.h"
#include "methods/seeded_linear.h"

namespace clbench {
namespace {

struct DytoxOptions {
  TORCH_ARG(int64_t, memory) = 2000;
  TORCH_ARG(double, head_div) = 0.1;
  TORCH_ARG(double, tau) = 1.0;
  TORCH_ARG(int64_t, finetune_epochs) = 20;
  TORCH_ARG(double, finetune_lr) = 5e-5;
  TORCH_ARG(double, finetune_weight_decay) = 1e-6;
  TORCH_ARG(bool, freeze_encoder) = false;

 public:
  template <class V>
  void visit(V& v) {
    v("memory", memory_, "rehearsal memory in samples, class-balanced (official: 2000)", {0, 1e9});
    v("head_div", head_div_, "weight of the divergence head's loss (official: 0.1)", {0, 1e6});
    v("tau", tau_, "distillation temperature of auto_kd (official: 1)", {1e-3, 1e3});
    v("finetune_epochs", finetune_epochs_,
      "epochs of balanced finetuning on the memory after each task t > 1 (official: 20)", {0, 1e6});
    v("finetune_lr", finetune_lr_, "its constant AdamW lr before x batch / 512 (official: 5e-5)",
      {0, 1e6});
    v("finetune_weight_decay", finetune_weight_decay_, "its weight decay (official: 1e-6)",
      {0, 1e6});
    v("freeze_encoder", freeze_encoder_,
      "keep the ViT's blocks (the SABs) frozen in training too (DyTox trains them)");
  }
};

// timm's trunc_normal_(std) on [-2, 2], drawn from `gen` (inverse CDF, as torch.nn.init does).
void trunc_normal(const torch::Tensor& t, double std, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  auto cdf = [](double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; };
  const double l = cdf(-2.0 / std), u = cdf(2.0 / std);
  t.uniform_(2 * l - 1, 2 * u - 1, gen);
  t.erfinv_();
  t.mul_(std * std::sqrt(2.0));
  t.clamp_(-2.0, 2.0);
}

// continual/convit.py _init_weights: Linear weights trunc_normal(.02), biases 0.
torch::nn::Linear tab_linear(int64_t in, int64_t out, bool bias, at::Generator& gen) {
  torch::nn::Linear l(torch::nn::LinearOptions(in, out).bias(bias));
  trunc_normal(l->weight, 0.02, gen);
  if (bias) {
    torch::NoGradGuard no_grad;
    l->bias.zero_();
  }
  return l;
}

// The TAB: continual/convit.py Block with ClassAttention (Sec. 3). From the task token t {B, 1, D}
// and the patch tokens x {B, N, D}: z = norm1([t; x]); t' = t + proj(softmax(q(z_0) k(z)^T /
// sqrt(d)) v(z)); e = t' + mlp(norm2(t')), returned {B, D}.
struct TaskAttentionImpl : torch::nn::Module {
  TaskAttentionImpl(int64_t dim_, int64_t heads_, int64_t hidden, at::Generator& gen)
      : dim(dim_), heads(heads_) {
    norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
    q = register_module("q", tab_linear(dim, dim, false, gen));
    k = register_module("k", tab_linear(dim, dim, false, gen));
    v = register_module("v", tab_linear(dim, dim, false, gen));
    proj = register_module("proj", tab_linear(dim, dim, true, gen));
    norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
    fc1 = register_module("fc1", tab_linear(dim, hidden, true, gen));
    fc2 = register_module("fc2", tab_linear(hidden, dim, true, gen));
  }
  torch::Tensor forward(const torch::Tensor& token, const torch::Tensor& patches) {
    const int64_t B = patches.size(0), N = patches.size(1) + 1, d = dim / heads;
    const auto z = norm1->forward(torch::cat({token, patches.to(token.scalar_type())}, 1));
    const auto query = q->forward(z.narrow(1, 0, 1)).reshape({B, 1, heads, d}).transpose(1, 2);
    const auto keys = k->forward(z).reshape({B, N, heads, d}).transpose(1, 2);
    const auto values = v->forward(z).reshape({B, N, heads, d}).transpose(1, 2);
    const auto attn = torch::softmax(
        torch::matmul(query * std::pow(static_cast<double>(d), -0.5), keys.transpose(-2, -1)), -1);
    const auto mixed =
        torch::matmul(attn.to(values.scalar_type()), values).transpose(1, 2).reshape({B, 1, dim});
    const auto t = token + proj->forward(mixed);
    const auto e = t + fc2->forward(torch::gelu(fc1->forward(norm2->forward(t))));
    return e.select(1, 0);
  }
  int64_t dim, heads;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Linear q{nullptr}, k{nullptr}, v{nullptr}, proj{nullptr}, fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(TaskAttention);

// continual/dytox.py ContinualClassifier: LayerNorm then Linear, nn.Linear's default init
// (U(+-1/sqrt(D))).
struct TaskHeadImpl : torch::nn::Module {
  TaskHeadImpl(int64_t dim, int64_t classes, at::Generator& gen) {
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
    linear = register_module("linear", seeded_linear(dim, classes, gen));
  }
  torch::Tensor forward(const torch::Tensor& e) { return linear->forward(norm->forward(e)); }
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear linear{nullptr};
};
TORCH_MODULE(TaskHead);

// What grows with the tasks: the TAB, one task token and one head per task (continual/dytox.py
// DyTox).
struct TaskDecoderImpl : torch::nn::Module {
  TaskDecoderImpl(int64_t dim_, int64_t heads, int64_t hidden, at::Generator& gen) : dim(dim_) {
    tab = register_module("tab", TaskAttention(dim, heads, hidden, gen));
    heads_list = register_module("heads", torch::nn::ModuleList());
  }
  // continual/dytox.py add_model: a token (a copy of the last, re-drawn: trunc_normal .02) and a
  // head.
  void add_task(int64_t classes, at::Generator& gen, const torch::Device& device) {
    auto token = torch::zeros({1, 1, dim});
    trunc_normal(token, 0.02, gen);
    tokens.push_back(
        register_parameter("token_" + std::to_string(tokens.size()), token.to(device)));
    TaskHead h(dim, classes, gen);
    h->to(device);
    heads_list->push_back(h);
  }
  int64_t tasks() const { return static_cast<int64_t>(tokens.size()); }
  TaskHeadImpl& head(int64_t i) { return *heads_list[static_cast<size_t>(i)]->as<TaskHeadImpl>(); }
  // e_i for every task token, from the patch tokens {B, N, D}.
  std::vector<torch::Tensor> embed(const torch::Tensor& patches) {
    std::vector<torch::Tensor> out;
    const int64_t B = patches.size(0);
    for (const auto& token : tokens)
      out.push_back(tab->forward(token.expand({B, -1, -1}), patches));
    return out;
  }
  // The heads' logits concatenated in class order (ind_clf 1-1) {B, seen classes}.
  torch::Tensor classify(const std::vector<torch::Tensor>& embeddings) {
    std::vector<torch::Tensor> logits;
    for (int64_t i = 0; i < tasks(); ++i)
      logits.push_back(head(i).forward(embeddings[static_cast<size_t>(i)]));
    return torch::cat(logits, 1);
  }
  int64_t dim;
  TaskAttention tab{nullptr};
  torch::nn::ModuleList heads_list{nullptr};
  std::vector<torch::Tensor> tokens;  // {1, 1, D} each
};
TORCH_MODULE(TaskDecoder);

// The ViT's blocks (the SABs) on the images: the patch tokens {B, N, D}, without the class token's
// output and without the final norm (the TAB normalises its input).
torch::Tensor patch_tokens(VitImpl& vit, const torch::Tensor& images) {
  auto x = vit.patch_embed->forward(vit.prepare(images));
  const int64_t B = x.size(0), N = x.size(1);
  x = torch::cat({vit.cls_token.expand({B, -1, -1}), x}, 1) + vit.pos_embed;
  for (size_t i = 0; i < vit.depth(); ++i) x = block_boundary(vit.block(i).forward(x, nullptr, i));
  return x.narrow(1, 1, N);
}

// The encoder's parameters (the ViT less its final norm, which DyTox does not use).
std::vector<torch::Tensor> encoder_parameters(VitImpl& vit) {
  std::vector<torch::Tensor> out = {vit.cls_token, vit.pos_embed};
  for (const auto& p : vit.patch_embed->parameters()) out.push_back(p);
  for (const auto& p : vit.blocks->parameters()) out.push_back(p);
  return out;
}

// One-hot binary cross-entropy, the mean over the classes per sample (continual/losses.py
// bce_with_logits).
torch::Tensor bce_per_sample(const torch::Tensor& logits, const torch::Tensor& labels) {
  const auto target = torch::one_hot(labels, logits.size(1)).to(logits.scalar_type());
  return torch::binary_cross_entropy_with_logits(logits, target, {}, {}, at::Reduction::None)
      .mean(1);
}

class Dytox : public Method {
 public:
  explicit Dytox(DytoxOptions o) : opt_(o) {}

  void on_attach() override {
    vit_ = std::dynamic_pointer_cast<VitImpl>(ctx_.model->backbone);
    if (!vit_) {
      throw Error(
          "dytox runs its task-attention block on a Vision Transformer's patch tokens: choose a "
          "ViT backbone (--backbone vit-tiny28, vit-small28, vit-b16, ...)");
    }
    // The model's own head and the ViT's final norm are not used.
    for (auto& p : ctx_.model->head->parameters()) p.requires_grad_(false);
    for (auto& p : vit_->norm->parameters()) p.requires_grad_(false);
    generator_ = make_generator(run().seed, 0x6479746f78);
    decoder_ = make_decoder(generator_);
  }

  void on_begin_task(const Task& task) override {
    // Not on a resume inside the task (the state already has its token, head and old model).
    if (decoder_->tasks() <= task.index) {
      if (task.index > 0) snapshot_old_model();
      while (decoder_->tasks() <= task.index) {
        const Task& t = ctx_.stream->tasks[static_cast<size_t>(decoder_->tasks())];
        decoder_->add_task(t.class_end - t.class_begin, generator_, run().device);
      }
      if (task.index >
          0) {  // continual/dytox.py add_model: head_div = ContinualClassifier(D, #new + 1)
        div_ = TaskHead(dim(), task.class_end - task.class_begin + 1, generator_);
        div_->to(run().device);
      } else {
        div_ = nullptr;
      }
    }
    freeze_old_tokens_and_heads();
    for (auto& p : encoder_parameters(*vit_)) p.requires_grad_(!opt_.freeze_encoder());
  }

  // main.py (rehearsal, not sep_memory): the task's data and the memory in one dataset.
  std::vector<int64_t> train_indices(const Task& task) const override {
    return exemplars_.after(task.train);
  }

  torch::Tensor loss(const Batch& batch) override {
    const auto patches = encode(batch.x, opt_.freeze_encoder());
    const auto embeddings = decoder_->embed(patches);
    const auto logits = decoder_->classify(embeddings);
    auto per_sample = bce_per_sample(logits, batch.y);
    const int64_t old = task_->class_begin;
    if (old > 0 && old_decoder_) {
      torch::Tensor old_logits;
      {
        torch::NoGradGuard no_grad;
        old_logits = old_decoder_->classify(old_decoder_->embed(patch_tokens(*old_vit(), batch.x)));
      }
      // continual/engine.py forward, auto_kd: lambda = #old / #seen (after WA, CVPR 2020).
      const double lambda = static_cast<double>(old) / static_cast<double>(logits.size(1));
      per_sample = (1.0 - lambda) * per_sample + lambda * distillation(logits, old_logits);
    }
    if (div_ && opt_.head_div() > 0) {
      // continual/engine.py: divergence targets, 0 for an old class, 1..#new for the new ones.
      const auto div_logits = div_->forward(embeddings.back());
      const auto targets = (batch.y - old + 1).clamp_min(0);
      per_sample = per_sample + opt_.head_div() * bce_per_sample(div_logits, targets);
    }
    return batch.mean(per_sample);
  }

  torch::Tensor logits(const Batch& batch) override {
    const int64_t C = ctx_.stream->num_classes();
    const int64_t B = batch.x.size(0);
    auto out = torch::full({B, C}, -std::numeric_limits<float>::infinity(),
                           batch.x.options().dtype(torch::kFloat));
    if (decoder_->tasks() == 0) return out.zero_();  // the untrained model
    const auto seen = decoder_->classify(decoder_->embed(patch_tokens(*vit_, batch.x)));
    out.narrow(1, 0, seen.size(1)).copy_(seen);
    return out;
  }

  void end_task(const Task& task) override {
    update_memory(task);
    if (task.index > 0 && opt_.finetune_epochs() > 0) finetune(task);
  }

  std::vector<torch::Tensor> trainable_parameters() override {
    std::vector<torch::Tensor> out;
    if (!opt_.freeze_encoder()) out = encoder_parameters(*vit_);
    for (const auto& p : decoder_->tab->parameters()) out.push_back(p);
    if (decoder_->tasks() > 0) {
      out.push_back(decoder_->tokens.back());
      for (const auto& p : decoder_->head(decoder_->tasks() - 1).parameters()) out.push_back(p);
    }
    if (div_) {
      for (const auto& p : div_->parameters()) out.push_back(p);
    }
    return out;
  }

  // The encoder, the TAB, every task token and head (the divergence head is for training only).
  int64_t stored_parameters() const override {
    return count_parameters(encoder_parameters(*vit_)) + count_parameters(decoder_->parameters());
  }

  MemoryFootprint memory() const override {
    return replay_footprint(*ctx_.stream->train_set,
                            static_cast<int64_t>(exemplars_.samples().size()));
  }

  void state(StateVisitor& v) override {
    // Structure first (a load grows the modules in place, from a scratch generator), then values.
    int64_t tasks = decoder_->tasks();
    v("dytox.tasks", tasks);
    if (v.loading()) {
      at::Generator scratch = make_generator(0, 0);
      if (decoder_->tasks() > tasks) decoder_ = make_decoder(scratch);
      grow(*decoder_, tasks, scratch);
    }
    v("dytox.decoder", *decoder_);
    if (v.loading()) freeze_old_tokens_and_heads();  // in-place loads keep the fresh flags
    bool has_div = static_cast<bool>(div_);
    v("dytox.has_div", has_div);
    if (v.loading() && has_div != static_cast<bool>(div_)) {
      div_ = nullptr;
      if (has_div) {
        at::Generator scratch = make_generator(0, 0);
        const Task& t = ctx_.stream->tasks[static_cast<size_t>(tasks - 1)];
        div_ = TaskHead(dim(), t.class_end - t.class_begin + 1, scratch);
        div_->to(run().device);
      }
    }
    if (div_) v("dytox.div", *div_);
    int64_t old_tasks = old_decoder_ ? old_decoder_->tasks() : 0;
    v("dytox.old_tasks", old_tasks);
    if (v.loading()) {
      if (old_tasks == 0) {
        old_decoder_ = nullptr;
      } else if (!old_decoder_ || old_decoder_->tasks() != old_tasks) {
        at::Generator scratch = make_generator(0, 0);
        old_decoder_ = make_decoder(scratch);
        grow(*old_decoder_, old_tasks, scratch);
        freeze(*old_decoder_);
        if (!old_model_) old_model_ = frozen_model();
      }
    }
    if (old_tasks > 0) {
      v("dytox.old_decoder", *old_decoder_);
      v("dytox.old_model", *old_model_);
    }
    exemplars_.state(v);
    v("dytox.generator", generator_);
  }

 private:
  int64_t dim() const { return vit_->options.dim(); }

  TaskDecoder make_decoder(at::Generator& gen) const {
    TaskDecoder d(dim(), vit_->options.heads(), vit_->options.mlp_hidden(), gen);
    d->to(run().device);
    return d;
  }

  void grow(TaskDecoderImpl& d, int64_t tasks, at::Generator& gen) const {
    while (d.tasks() < tasks) {
      const Task& t = ctx_.stream->tasks[static_cast<size_t>(d.tasks())];
      d.add_task(t.class_end - t.class_begin, gen, run().device);
    }
  }

  std::shared_ptr<VitImpl> old_vit() const {
    return std::dynamic_pointer_cast<VitImpl>(old_model_->backbone);
  }

  // The patch tokens; without a graph through the encoder when it is frozen.
  torch::Tensor encode(const torch::Tensor& x, bool frozen) {
    if (!frozen) return patch_tokens(*vit_, x);
    torch::NoGradGuard no_grad;
    return patch_tokens(*vit_, x);
  }

  // continual/engine.py: F.kl_div(log_softmax(new_old / tau), log_softmax(old / tau), 'mean',
  // log_target=True) * tau^2, per sample (its sum over the old classes / #old; the batch mean is
  // taken with the rest).
  torch::Tensor distillation(const torch::Tensor& logits, const torch::Tensor& old_logits) const {
    const double tau = opt_.tau();
    const int64_t old = old_logits.size(1);
    const auto log_new = torch::log_softmax(logits.narrow(1, 0, old) / tau, 1, torch::kFloat);
    const auto log_old = torch::log_softmax(old_logits / tau, 1, torch::kFloat);
    return (log_old.exp() * (log_old - log_new)).sum(1) / static_cast<double>(old) * tau * tau;
  }

  // main.py: teacher_model = deepcopy(model), frozen (the encoder, the TAB, tokens and heads).
  void snapshot_old_model() {
    if (!old_model_) old_model_ = frozen_model();
    copy_weights(*old_model_, *ctx_.model);
    at::Generator scratch = make_generator(0, 0);
    old_decoder_ = make_decoder(scratch);
    grow(*old_decoder_, decoder_->tasks(), scratch);
    copy_weights(*old_decoder_, *decoder_);
    freeze(*old_decoder_);
  }

  // freeze_task: old_task_tokens, old_heads.
  void freeze_old_tokens_and_heads() {
    const int64_t n = decoder_->tasks();
    for (int64_t i = 0; i < n; ++i) {
      const bool newest = i == n - 1;
      decoder_->tokens[static_cast<size_t>(i)].requires_grad_(newest);
      for (auto& p : decoder_->head(i).parameters()) p.requires_grad_(newest);
    }
  }

  // continual/rehearsal.py icarl_all: herding on the L2-normalised concatenated task embeddings,
  // for the task's classes (skipped by a resumed end_task, whose memory already has them).
  void update_memory(const Task& task) {
    const auto counts = exemplars_.counts();
    if (opt_.memory() == 0 || counts.count(task.class_begin) > 0) return;
    herd_task(
        exemplars_, task, [&](int64_t i) { return internal_class(i); },
        [&](const std::vector<int64_t>& samples) { return features_of(samples); });
  }

  // The normalised concatenated embeddings of `samples` (eval mode, un-augmented), row i for
  // samples[i], on every rank (each row placed in a table of zeros, summed over shards).
  torch::Tensor features_of(const std::vector<int64_t>& samples) {
    return services().sample_rows(samples, dim() * decoder_->tasks(), [&](const Batch& b) {
      auto f = torch::cat(decoder_->embed(patch_tokens(*vit_, b.x)), 1).to(torch::kFloat);
      return f / (f.norm(2, 1, true) + 1e-8);  // continual/rehearsal.py icarl_selection
    });
  }

  // main.py finetuning 'balanced': the memory alone, the SABs frozen, every token and head and the
  // TAB trained, BCE at the constant lr finetuning_lr x batch / 512.
  void finetune(const Task& task) {
    const auto memory = exemplars_.samples();
    if (memory.empty()) return;
    const auto n = static_cast<int64_t>(memory.size());
    const int64_t batch = run().batch_size;
    // Its own generator: a resumed end_task draws the same order.
    auto gen = make_generator(run().seed, 0x6479746f78 + task.index);
    FitSpec fit;
    fit.name = "dytox-finetune";
    for (int64_t e = 0; e < opt_.finetune_epochs(); ++e) {
      const auto order = torch::randperm(n, gen, torch::kLong);
      const int64_t* ids = order.data_ptr<int64_t>();
      for (int64_t i = 0; i < n; ++i) fit.samples.push_back(memory[static_cast<size_t>(ids[i])]);
    }
    fit.steps = (static_cast<int64_t>(fit.samples.size()) + batch - 1) / batch;
    fit.batch_size = batch;
    fit.augment = true;
    std::vector<torch::Tensor> params;
    for (const auto& p : decoder_->parameters()) {
      p.requires_grad_(true);
      params.push_back(p);
    }
    fit.params = {ParamGroup{params, std::nullopt, std::nullopt}};
    fit.optimizer = {"adamw", opt_.finetune_lr() * static_cast<double>(batch) / 512.0, 0.0,
                     opt_.finetune_weight_decay()};
    fit.loss = [this](const Batch& b) {
      const auto logits = decoder_->classify(decoder_->embed(encode(b.x, true)));
      return b.mean(bce_per_sample(logits, b.y));
    };
    services().fit(fit);
    freeze_old_tokens_and_heads();
  }

  DytoxOptions opt_;
  std::shared_ptr<VitImpl> vit_;
  at::Generator generator_ = make_generator(0, 0);  // reseeded in on_attach
  TaskDecoder decoder_{nullptr};
  TaskHead div_{nullptr};
  TaskDecoder old_decoder_{nullptr};
  Classifier old_model_{nullptr};
  ClassBalancedMemory exemplars_{opt_.memory()};
};

const bool registered_dytox = register_method(
    method_entry<Dytox, DytoxOptions>(
        "dytox",
        "DyTox (Douillard 2022): a task token per task through one task-attention block, "
        "per-task heads, auto_kd, divergence head, herding memory, balanced finetuning (ViT)",
        // main.py, options/model/cifar_dytox.yaml: AdamW lr 5e-4 x batch / 512, wd 1e-6, cosine.
        {{"optimizer", "adamw"},
         {"lr", 5e-4 * 128 / 512},
         {"weight_decay", 1e-6},
         {"lr_schedule", "cosine"}},
        [] {
          auto r = replay_memory("dytox.memory", true);
          r.backbone_kinds = {"vit"};
          return r;
        }())
        .tiny_settings({{"memory", 8}, {"finetune_epochs", 1}})
        // options/model/cifar_dytox.yaml + options/data/cifar100_10-10.yaml, on 2 GPUs
        // (erratum_distributed.md): 500 epochs, batch 128 x 2, AdamW lr 5e-4 x 256 / 512
        // (incremental_lr the same), wd 1e-6, cosine with 5 warm-up epochs, memory 2000,
        // finetuning 20 epochs. DyTox's CIFAR-100 runs use DER's class orders
        // (options/data/cifar100_order1.yaml: 87, 0, 52, ...); clbench's cifar100-10 is PyCIL's
        // seed-1993 order, another one.
        .paper_settings({{"cifar100-10",
                          {{"epochs", 500},
                           {"batch_size", 256},
                           {"optimizer", "adamw"},
                           {"lr", 5e-4 * 256 / 512},
                           {"weight_decay", 1e-6},
                           {"lr_schedule", "cosine"},
                           {"warmup_epochs", 5},
                           {"dytox.memory", 2000},
                           {"dytox.finetune_epochs", 20}}}}));

}  // namespace
}  // namespace clbench
