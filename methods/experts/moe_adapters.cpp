// MoE-Adapters (Yu et al., CVPR 2024, arXiv 2403.11549) as its official code runs it
// (JiazuoYu/MoE-Adapters4CL: cil/clip/model.py ResidualAttentionBlock, cil/clip/adapter.py,
// cil/continual_clip/models.py, cil/configs/class/*.yaml; mtil/clip/model.py and
// mtil/src/models/finetune.py for the frozen experts):
// - every block: E AdaptFormer experts (Down 64, ReLU, dropout 0.1, Up, x 0.1, LoRA init: a fresh
//   expert adds 0) in parallel to the frozen MLP on the stream after attention, and a noisy top-k
//   router on that stream's class token: clean logits x_CLS W_gate, in training plus
//   N(0, 1) (softplus(x_CLS W_noise) + 1e-2); softmax over the top k, 0 elsewhere; W_gate and
//   W_noise start at zero (so the first routing is uniform over the experts the noise picks);
// - the loss: cross-entropy on the current task's classes (the official code scores the image
//   against the text embeddings of the task's class names only), prediction over every class
//   seen so far;
// - frozen_per_task > 0 (MTIL's frozen list): after each task, the `frozen_per_task` experts of
//   each block selected most often over the tasks so far are frozen (added to the frozen set,
//   which only grows); their numbers never change again.
// Where clbench differs, and why:
// - The paper's model is CLIP with adapters in both encoders and the text embeddings of "a bad
//   photo of a {}." as the classifier; here the ViT's linear head over all classes (PILOT's
//   SimpleLinear init) is trained with the experts, on the current task's classes.
// - One router per block for every task by default (the CIL code: step 1, task id 0).
//   task_routers gives MTIL's per-task routers with its DDAS selector (mtil/src/models/
//   AutoEncoder.py): an autoencoder per task (D -> 100 -> D, ReLU, Sigmoid, MSE on sigmoid of the
//   features, Adam 0.01 decayed x0.1 every 10 epochs, wd 1e-4), fitted after the task; at test
//   each image takes the router of the task whose autoencoder reconstructs it best. The official
//   features are a pretrained AlexNet's conv5 (not available here): clbench uses the frozen
//   ViT's class-token feature, a second pass per test image. The official choice is per batch,
//   with a zero-shot CLIP fallback above a threshold; here it is per image, without fallback.
// - Selections are counted after each task, over its un-augmented training samples with the clean
//   (noise-free) gates, in eval mode (the official choose_map counts the nonzero gates of every
//   forward pass while training, with noise); the counts accumulate over the tasks as choose_map
//   does. Ties go to the lower expert index.
// - The router noise of sample i is drawn from its own seed (the batch's augmentation seed, i and
//   the block), so any sharding draws the same noise (the official torch.randn_like on the batch).
// - The balance loss (mtil/clip/model.py computes cv^2(importance) + cv^2(load) x 1e-2 and drops
//   it; the CIL code computes neither) is added with balance_weight (0 by default, as the code
//   runs); importance and load are taken over each gradient shard's samples (the official batch
//   is one GPU's).
// - Schedule: the official cosine_lr warms up over 30 iterations, then a cosine per iteration;
//   clbench's warm-up counts in epochs, so the defaults use a per-step cosine without warm-up.
//   Label smoothing is 0 in the CIFAR-100 configs (ls: 0.0), as here.
#include "methods/experts/moe_adapters.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/random.h"
#include "methods/seeded_linear.h"

namespace clbench {

void MoeAdaptersOptions::check(const std::string& prefix) const {
  if (top_k_ > experts_) {
    throw Error(prefix + ".top_k (" + std::to_string(top_k_) + ") exceeds " + prefix +
                ".experts (" + std::to_string(experts_) + ")");
  }
  if (frozen_per_task_ > experts_) {
    throw Error(prefix + ".frozen_per_task (" + std::to_string(frozen_per_task_) + ") exceeds " +
                prefix + ".experts (" + std::to_string(experts_) + ")");
  }
}

MoeLayerImpl::MoeLayerImpl(int64_t n, const ParallelAdapterOptions& options, at::Generator& gen,
                           int64_t routers) {
  experts = register_module("experts", torch::nn::ModuleList());
  for (int64_t e = 0; e < n; ++e) experts->push_back(ParallelAdapter(options, gen));
  // model.py: router_list / w_noise_list entries are nn.Parameter(torch.zeros(d_model, E)).
  w_gate = register_parameter("w_gate", torch::zeros({options.dim(), n}));
  w_noise = register_parameter("w_noise", torch::zeros({options.dim(), n}));
  for (int64_t r = 1; r < routers; ++r) {
    gates.push_back(register_parameter("w_gate_" + std::to_string(r), torch::zeros_like(w_gate)));
    noises.push_back(
        register_parameter("w_noise_" + std::to_string(r), torch::zeros_like(w_noise)));
  }
}

torch::Tensor cv_squared(const torch::Tensor& x) {
  // model.py cv_squared: x.float().var() / (x.float().mean() ** 2 + 1e-10), 0 for one expert.
  if (x.size(0) == 1) return torch::zeros({}, x.options().dtype(torch::kFloat));
  const auto f = x.to(torch::kFloat);
  return f.var() / (f.mean().pow(2) + 1e-10);
}

Routing noisy_top_k(const torch::Tensor& clean, const torch::Tensor& noise,
                    const torch::Tensor& noise_std, int64_t k) {
  const int64_t E = clean.size(1);
  const bool noisy = noise.defined();
  const auto logits = noisy ? clean + noise * noise_std : clean;
  // model.py noisy_top_k_gating: top min(k + 1, E), softmax over the first k, scattered.
  const auto [top_values, top_indices] = logits.topk(std::min(k + 1, E), 1);
  const auto gates = torch::zeros_like(logits).scatter(
      1, top_indices.narrow(1, 0, k), torch::softmax(top_values.narrow(1, 0, k), 1));
  torch::Tensor load;
  if (noisy && k < E) {
    // _prob_in_top_k: P(clean + noise beats the k-th best of the others), Normal CDF.
    const auto in_threshold = top_values.narrow(1, k, 1),
               out_threshold = top_values.narrow(1, k - 1, 1);
    const auto cdf = [](const torch::Tensor& z) {
      return 0.5 * (1.0 + torch::erf(z / std::sqrt(2.0)));
    };
    const auto prob = torch::where(logits > in_threshold, cdf((clean - in_threshold) / noise_std),
                                   cdf((clean - out_threshold) / noise_std));
    load = prob.sum(0);
  } else {
    load = (gates > 0).sum(0);  // _gates_to_load
  }
  return {gates, load};
}

void MoeAdapters::on_attach() {
  vit_ = frozen_vit(ctx_.model, "adapts");
  auto gen = make_generator(run().seed, 29);
  {  // PILOT SimpleLinear's head init: kaiming_uniform_(nonlinearity='linear'), bias 0.
    torch::NoGradGuard no_grad;
    auto& head = ctx_.model->head;
    const double bound = std::sqrt(3.0 / static_cast<double>(head->weight.size(1)));
    head->weight.copy_(torch::empty(head->weight.sizes()).uniform_(-bound, bound, gen));
    head->bias.zero_();
  }
  // adapter.py with model.py's settings: bottleneck 64, scale 0.1, no LayerNorm, LoRA init.
  const auto options =
      ParallelAdapterOptions(vit_->feature_dim(), opt_.bottleneck()).scale(opt_.scale());
  const auto tasks = static_cast<int64_t>(ctx_.stream->tasks.size());
  layers_ = torch::nn::ModuleList();
  for (size_t b = 0; b < vit_->depth(); ++b)
    layers_->push_back(MoeLayer(opt_.experts(), options, gen, opt_.task_routers() ? tasks : 1));
  layers_->to(run().device);
  if (opt_.task_routers()) {
    // AutoEncoder.py Autoencoder(input_dims, code_dims=100), nn.Linear's default init.
    const int64_t D = vit_->feature_dim(), code = opt_.selector_code();
    for (int64_t t = 0; t < tasks; ++t) {
      selectors_.push_back(torch::nn::Sequential(seeded_linear(D, code, gen), torch::nn::ReLU(),
                                                 seeded_linear(code, D, gen),
                                                 torch::nn::Sigmoid()));
      selectors_.back()->to(run().device);
      for (auto& p : selectors_.back()->parameters()) p.requires_grad_(false);
    }
  }
  counts_ = torch::zeros({static_cast<int64_t>(depth()), opt_.experts()}, torch::kDouble);
  frozen_.assign(depth() * static_cast<size_t>(opt_.experts()), 0);
  hooks_ = std::make_shared<MlpBranchHooks>();
  vit_->hooks = hooks_;
}

std::vector<uint64_t> MoeAdapters::noise_seeds(const Batch& batch) {
  std::vector<uint64_t> seeds;
  if (!batch.augment_seed) return seeds;
  for (int64_t i : batch.indices)
    seeds.push_back(mix_seed({*batch.augment_seed, static_cast<uint64_t>(i), 0x9015Eull}));
  return seeds;
}

Routing MoeAdapters::route(size_t block, const torch::Tensor& cls,
                           const std::vector<uint64_t>& seeds, const torch::Tensor& routers) {
  auto& l = layer(block);
  // x @ W of each sample's router (router 0 for all when `routers` is undefined).
  const auto project = [&](const std::function<const torch::Tensor&(size_t)>& weight) {
    if (!routers.defined()) return cls.matmul(weight(0).to(cls.scalar_type()));
    std::vector<torch::Tensor> all;
    for (size_t r = 0; r <= l.gates.size(); ++r) all.push_back(weight(r));
    const auto W = torch::stack(all).index_select(0, routers).to(cls.scalar_type());
    return torch::bmm(cls.unsqueeze(1), W).squeeze(1);
  };
  // model.py: clean_logits = x @ w_gate.to(x); noise_stddev = softplus(x @ w_noise) + 1e-2.
  const auto clean = project([&](size_t r) -> const torch::Tensor& { return l.gate(r); });
  if (seeds.empty()) return noisy_top_k(clean, {}, {}, opt_.top_k());
  if (static_cast<int64_t>(seeds.size()) != cls.size(0))
    throw Error("internal: router noise seeds for " + std::to_string(seeds.size()) + " samples");
  const auto noise_std = torch::nn::functional::softplus(project(
                             [&](size_t r) -> const torch::Tensor& { return l.noise(r); })) +
                         1e-2;
  std::vector<torch::Tensor> draws;
  for (uint64_t seed : seeds) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(mix_seed({seed, block}));
    draws.push_back(torch::randn({opt_.experts()}, gen));
  }
  const auto noise = torch::stack(draws).to(cls.device(), clean.scalar_type());
  return noisy_top_k(clean, noise, noise_std, opt_.top_k());
}

MlpBranchHooks::Branch MoeAdapters::branch(std::vector<uint64_t> seeds, SampleDropout dropout,
                                           std::vector<torch::Tensor>* balance,
                                           torch::Tensor* selected, torch::Tensor routers) {
  return [this, seeds = std::move(seeds), dropout = std::move(dropout), balance, selected,
          routers = std::move(routers)](size_t block, const torch::Tensor& x) {
    const auto r = route(block, x.select(1, 0), seeds, routers);
    if (selected) selected->select(0, static_cast<int64_t>(block)).add_((r.gates > 0).sum(0));
    if (balance) balance->push_back(cv_squared(r.gates.sum(0)) + cv_squared(r.load));
    // SparseDispatcher.combine: sum_i gate_i * expert_i(x) (an expert whose gate is 0 adds 0).
    auto& l = layer(block);
    const auto E = static_cast<size_t>(opt_.experts());
    torch::Tensor out;
    for (size_t e = 0; e < E; ++e) {
      const auto g = r.gates.select(1, static_cast<int64_t>(e)).reshape({-1, 1, 1});
      const auto y = g * l.expert(e).forward(x, dropout, block * E + e);
      out = out.defined() ? out + y : y;
    }
    return out;
  };
}

torch::Tensor MoeAdapters::loss(const Batch& batch) {
  std::vector<torch::Tensor> balance;
  torch::Tensor logits;
  {
    BranchScope scope(*hooks_, branch(noise_seeds(batch), SampleDropout::of(batch, opt_.dropout()),
                                      opt_.balance_weight() > 0 ? &balance : nullptr, nullptr,
                                      task_router(batch.x.size(0))));
    logits = ctx_.model->forward(batch.x);
  }
  auto loss = current_task_loss(logits, batch);
  if (!balance.empty() && batch.global_size > 0) {
    // This shard's share: its balance loss weighted by its part of the global batch.
    const double share =
        static_cast<double>(batch.indices.size()) / static_cast<double>(batch.global_size);
    loss = loss + opt_.balance_weight() * share * torch::stack(balance).sum();
  }
  return loss;
}

torch::Tensor MoeAdapters::logits(const Batch& batch) {
  const auto routers =
      opt_.task_routers() && task_ != nullptr ? select_routers(batch.x) : torch::Tensor();
  BranchScope scope(*hooks_, branch({}, {}, nullptr, nullptr, routers));
  return ctx_.model->forward(batch.x);
}

torch::Tensor MoeAdapters::task_router(int64_t samples) const {
  if (!opt_.task_routers() || task_ == nullptr) return {};
  return torch::full({samples}, static_cast<int64_t>(task_->index),
                     torch::TensorOptions().dtype(torch::kLong).device(run().device));
}

torch::Tensor MoeAdapters::select_routers(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  // AutoEncoder.py: the input is sigmoid(features), the score the MSE of its reconstruction;
  // the lowest score's task (the official code decides per batch, and above a threshold falls
  // back to zero-shot CLIP, which clbench does not have).
  const auto input = torch::sigmoid(vit_->query(images));
  std::vector<torch::Tensor> errors;
  for (int64_t t = 0; t <= task_->index; ++t) {
    errors.push_back((selectors_[static_cast<size_t>(t)]->forward(input) - input).pow(2).mean(1));
  }
  return torch::stack(errors, 1).argmin(1);
}

// AutoEncoder.py, training: Adam (lr 0.01 decayed x0.1 every 10 epochs, weight decay 1e-4) on the
// MSE of sigmoid(features) over `selector_steps` steps of augmented training batches.
void MoeAdapters::fit_selector(const Task& task) {
  auto& ae = selectors_[static_cast<size_t>(task.index)];
  const auto n = static_cast<int64_t>(task.train.size());
  const int64_t batch = run().batch_size, per_epoch = std::max<int64_t>(1, (n + batch - 1) / batch);
  FitSpec fit;
  fit.name = "moe-selector";
  fit.steps = opt_.selector_steps();
  fit.batch_size = batch;
  auto gen = make_generator(run().seed, 0x5E1EC7 + task.index);
  while (static_cast<int64_t>(fit.samples.size()) < fit.steps * batch) {  // shuffled epochs
    const auto order = torch::randperm(n, gen, torch::kLong);
    const int64_t* at = order.data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) fit.samples.push_back(task.train[static_cast<size_t>(at[i])]);
  }
  fit.augment = true;
  for (auto& p : ae->parameters()) p.requires_grad_(true);
  fit.params = {ParamGroup{ae->parameters(), std::nullopt, std::nullopt}};
  fit.optimizer = {"adam", opt_.selector_lr(), 0.0, 1e-4};
  fit.lr_factor = [per_epoch](int64_t k) {
    return std::pow(0.1, static_cast<double>((k / per_epoch) / 10));
  };
  fit.loss = [this, &ae](const Batch& b) {
    const auto input = torch::sigmoid(vit_->query(b.x));
    return b.mean((ae->forward(input) - input).pow(2).mean(1));
  };
  if (fit.steps > 0) services().fit(fit);
  for (auto& p : ae->parameters()) p.requires_grad_(false);
}

void MoeAdapters::end_task(const Task& task) {
  if (opt_.task_routers()) fit_selector(task);
  if (opt_.frozen_per_task() == 0) return;
  const auto D = static_cast<int64_t>(depth()), E = opt_.experts();
  const auto sums = services().sum_over_samples(task.train, [&](const Batch& b) {
    torch::NoGradGuard no_grad;
    auto selected = torch::zeros({D, E}, b.x.options().dtype(torch::kFloat));
    if (!b.indices.empty()) {
      BranchScope scope(*hooks_, branch({}, {}, nullptr, &selected, task_router(b.x.size(0))));
      ctx_.model->forward(b.x);
    }
    return std::vector<torch::Tensor>{selected};
  });
  counts_ = counts_ + sums[0].to(torch::kCPU, torch::kDouble);
  // finetune.py: torch.topk(choose_map, 2) per block, appended to the frozen list.
  const auto counts = counts_.contiguous();
  const double* c = counts.data_ptr<double>();
  for (int64_t b = 0; b < D; ++b) {
    std::vector<int64_t> order(static_cast<size_t>(E));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t i, int64_t j) { return c[b * E + i] > c[b * E + j]; });
    for (int64_t k = 0; k < opt_.frozen_per_task(); ++k)
      frozen_[static_cast<size_t>(b * E + order[static_cast<size_t>(k)])] = 1;
  }
  apply_frozen();
}

void MoeAdapters::apply_frozen() {
  for (size_t b = 0; b < depth(); ++b) {
    for (int64_t e = 0; e < opt_.experts(); ++e) {
      if (!frozen(b, e)) continue;
      for (auto& p : layer(b).expert(static_cast<size_t>(e)).parameters()) {
        p.requires_grad_(false);
        p.mutable_grad() = torch::Tensor();
      }
    }
  }
}

std::vector<torch::Tensor> MoeAdapters::trainable_parameters() {
  // models.py: every parameter named adaptmlp, router or noise (finetune.py: less the frozen).
  std::vector<torch::Tensor> params;
  for (size_t b = 0; b < depth(); ++b) {
    auto& l = layer(b);
    for (int64_t e = 0; e < opt_.experts(); ++e) {
      if (frozen(b, e)) continue;
      for (const auto& p : l.expert(static_cast<size_t>(e)).parameters()) params.push_back(p);
    }
    const auto r = static_cast<size_t>(opt_.task_routers() && task_ ? task_->index : 0);
    params.push_back(l.gate(r));
    params.push_back(l.noise(r));
  }
  params.push_back(ctx_.model->head->weight);
  params.push_back(ctx_.model->head->bias);
  return params;
}

// The experts, the routers and autoencoders of the tasks seen (one router without task_routers),
// the head.
int64_t MoeAdapters::stored_parameters() const {
  const int64_t routers = opt_.task_routers() && task_ ? task_->index + 1 : 1;
  int64_t n = count_parameters(ctx_.model->head->parameters());
  for (const auto& block : layers_->children()) {
    const auto& l = dynamic_cast<const MoeLayerImpl&>(*block);
    n += count_parameters(l.experts->parameters()) +
         routers * (l.w_gate.numel() + l.w_noise.numel());
  }
  for (int64_t t = 0; t < static_cast<int64_t>(selectors_.size()) && t < routers; ++t)
    n += count_parameters(selectors_[static_cast<size_t>(t)]->parameters());
  return n;
}

void MoeAdapters::state(StateVisitor& v) {
  v("moe.layers", *layers_);
  v("moe.counts", counts_);
  v("moe.frozen", frozen_);
  for (size_t t = 0; t < selectors_.size(); ++t)
    v.parameters("moe.selector." + std::to_string(t), *selectors_[t]);
}

namespace {

const bool registered_moe_adapters = register_method(
    method_entry<MoeAdapters, MoeAdaptersOptions>(
        "moe-adapters",
        "MoE-Adapters: per block a noisy top-k mixture of adapter experts next to the MLP, "
        "most-selected experts frozen, a linear head (ViT)",
        // continual_clip/models.py: AdamW lr 1e-3 (cil/configs/class), wd 0, cosine per iteration
        // (batch 128 and 1 epoch: the paper settings).
        {{"optimizer", "adamw"},
         {"lr", 1e-3},
         {"weight_decay", 0.0},
         {"lr_schedule", "cosine"},
         {"lr_schedule_per", "step"}},
        frozen_vit_requirements())
        .tiny_settings({{"experts", 3},
                        {"top_k", 2},
                        {"frozen_per_task", 1},
                        {"bottleneck", 4},
                        {"task_routers", true},
                        {"selector_code", 8},
                        {"selector_steps", 2}})
        // cil/configs/class/cifar100_10-10-MoE-Adapters.yaml: batch 128, lr 1e-3, wd 0, ls 0;
        // models.py: AdamW, EPOCH = 1, cosine_lr with a 30-iteration warm-up (not expressible).
        .paper_settings({{"cifar100-10",
                          {{"epochs", 1},
                           {"batch_size", 128},
                           {"optimizer", "adamw"},
                           {"lr", 1e-3},
                           {"weight_decay", 0.0},
                           {"lr_schedule", "cosine"},
                           {"lr_schedule_per", "step"},
                           {"moe-adapters.experts", 2},
                           {"moe-adapters.top_k", 2}}}}));

}  // namespace
}  // namespace clbench
